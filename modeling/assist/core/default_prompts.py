"""The default prompt templates (version 1 of each), with their human-written in-context examples.

Sources (papers by number, docs/references.md): DepictQA (002) Fig. 2 and appendix A2 for the questionnaire
paragraphs; VisualCritic (000) Fig. 3-4 for data construction (its own examples are kept
verbatim where it gives them); Q-SiT (001) §III-B4-B5 for feedback -> VQA and conversations.
The paragraph examples were written for Loupe in DepictQA's style: short, faithful to the
questionnaire, no invented detail, and a closing sentence that weighs the evidence.
"""

from __future__ import annotations

import json

from modeling.assist.core.prompts import PromptTemplate
from modeling.assist.core.validation import OutputRules

__all__ = ["DEFAULT_TEMPLATES", "default_template"]


# ----------------------------------------------------------------------------- DepictQA questionnaires

_DESCRIPTION_SYSTEM = """\
You help image-quality annotators write quality descriptions. You receive the answers an annotator gave \
to a questionnaire about one distorted image: the texture it shows and whether that texture is still \
identifiable, how strongly five aspects are distorted (brightness, color, noise, artifacts, blurriness), \
and the overall quality. Write one paragraph that states every answer in natural language. Do not add \
anything the answers do not support, do not use numbers or scores, and do not mention the questionnaire. \
Name the overall verdict with the questionnaire's own words (nearly undistorted, mild distortion or \
severe distortion) and end by weighing which distortions decide it."""

_DESCRIPTION_INSTRUCTION = "Write the quality description paragraph for these questionnaire answers."

_DESCRIPTION_EXAMPLES = (
    (
        """\
Texture category: Plants or foliage
Texture condition: Barely identifiable
Distortions:
- Brightness: Undistorted
- Color: Severe
- Noise: Severe
- Artifacts: Undistorted
- Blurriness: Undistorted
Overall quality: Severe distortion""",
        "The overall quality of this image is severely compromised. The main culprits are severe color "
        "distortion and severe noise, which together pull the picture far from a faithful rendering of the "
        "scene. Brightness, on the other hand, is undistorted, and the image shows no artifacts or blurriness. "
        "The plant and foliage texture is barely identifiable, mostly because the color distortion and the noise "
        "mask its fine structure. Therefore, the severe color distortion and noise outweigh the well-preserved "
        "brightness and sharpness, and the image has severe distortion overall.",
    ),
    (
        """\
Texture category: Object edges
Texture condition: Clearly identifiable
Distortions:
- Brightness: Mild
- Color: Undistorted
- Noise: Undistorted
- Artifacts: Mild
- Blurriness: Undistorted
Overall quality: Mild distortion""",
        "This image shows mild distortion overall. Its brightness is mildly distorted, so the scene looks a "
        "little off in exposure, and mild artifacts are visible. Color, noise and blurriness are undistorted. "
        "The object edges remain clearly identifiable, with outlines that the artifacts do not break up. "
        "Therefore, since only two aspects are affected, and only mildly, while the texture stays intact, the "
        "overall verdict is mild distortion.",
    ),
)

_COMPARISON_SYSTEM = """\
You help image-quality annotators explain a comparison between two distorted versions of the same \
image, Image A and Image B. You receive the annotator's questionnaire: the texture and how identifiable \
it is in each image, for each of five aspects (brightness, color, noise, artifacts, blurriness) how much \
of that distortion Image A has compared with Image B, and the overall comparison. Write one paragraph that \
states the verdict, describes where each image is better or worse, and weighs these points to justify the \
verdict. Always call the images "Image A" and "Image B". Do not add anything the answers do not support, \
do not use numbers or scores, and do not mention the questionnaire."""

_COMPARISON_INSTRUCTION = "Write the comparison reasoning paragraph for these questionnaire answers."

_COMPARISON_EXAMPLES = (
    (
        """\
Texture category: Faces
Texture of Image A: Clearly identifiable
Texture of Image B: Completely damaged
Distortions (how much of each Image A has compared with Image B):
- Brightness: A slightly worse (Image A has slightly more brightness distortion than Image B)
- Color: About equal (Image A and Image B have about the same color distortion)
- Noise: About equal (Image A and Image B have about the same noise)
- Artifacts: About equal (Image A and Image B have about the same artifacts)
- Blurriness: A much better (Image A has much less blurriness than Image B)
Overall comparison: A is better than B
Forced choice: A is better""",
        "Image A is better than Image B. Its one weakness is brightness: Image A shows slightly more brightness "
        "distortion than Image B. Color, noise and artifacts are roughly equal in the two images. The decisive "
        "difference is blurriness, where Image A is far less distorted than Image B. This shows in the facial "
        "texture, which is clearly identifiable in Image A but completely damaged in Image B. Therefore, despite "
        "its slightly worse brightness, Image A's much sharper rendering and intact facial texture make its "
        "overall quality superior.",
    ),
    (
        """\
Texture category: Sky or clouds
Texture of Image A: Barely identifiable
Texture of Image B: Barely identifiable
Distortions (how much of each Image A has compared with Image B):
- Brightness: About equal (Image A and Image B have about the same brightness distortion)
- Color: A slightly better (Image A has slightly less color distortion than Image B)
- Noise: A slightly worse (Image A has slightly more noise than Image B)
- Artifacts: About equal (Image A and Image B have about the same artifacts)
- Blurriness: About equal (Image A and Image B have about the same blurriness)
Overall comparison: Hard to decide
Forced choice: Hard to decide""",
        "It is hard to decide which of the two images is better. Image A has slightly less color distortion than "
        "Image B, but it also shows slightly more noise. Brightness, artifacts and blurriness are roughly equal. "
        "In both images the sky and cloud texture is only barely identifiable, so neither preserves the scene "
        "noticeably better. Therefore, with Image A's advantage in color balanced by Image B's advantage in "
        "noise, Image A and Image B are of comparable quality.",
    ),
)

# ----------------------------------------------------------------------------- VisualCritic (paper 000)

_VC_SYSTEM = "You are an AI data construction assistant."

_SCORES_INSTRUCTION = """\
Given some visual quality metrics of an image, return a linguistic description of its subjective quality \
without mentioning specific values or file names. The metrics may include MOS (Mean Opinion Score), \
Brightness, Colorfulness, Contrast, Noisiness and Sharpness, each ranging from 0 to 100; higher is better."""

_SCORES_EXAMPLES = (
    (
        "MOS: 48.86\nBrightness: 48.86\nColorfulness: 47.43\nContrast: 55.57\nSharpness: 42.57",
        "The image has been evaluated across various visual quality parameters. Its overall Mean Opinion Score "
        "(MOS) suggests a moderately good subjective quality perception. The image displays a balanced "
        "brightness level, ensuring it's neither too dim nor overly bright. The colors present are moderately "
        "vibrant, adding a touch of liveliness to the visual experience. There's a good distinction between the "
        "lighter and darker areas, enhancing the visual depth and clarity. The details are reasonably clear, "
        "though there might be room for improvement in terms of crispness.",
    ),
    (
        "MOS: 18.20\nBrightness: 22.10\nColorfulness: 35.00\nContrast: 20.45\nSharpness: 12.80",
        "Viewers would judge this image to be of poor quality. It looks dim and somewhat flat, with little "
        "separation between light and dark areas, and its colors are muted. Fine details are hard to make out "
        "because the image lacks sharpness, which is the weakest aspect of all.",
    ),
)

# Fig. 3, "For Quantitative Measurement": the paper's prompt and its two examples verbatim (one indicator each);
# Loupe asks for the MOS and whichever of the five attributes an image has, so a third example shows several.
_QUANTITATIVE_INSTRUCTION = """\
I will provide you numerical indicators related to the visual quality of an image. Please insert these \
numerical indicators into a natural language description and return it to me. Keep every number exactly as \
given, name each indicator before its number, and add no other numbers."""

_QUANTITATIVE_EXAMPLES = (
    ("MOS: 48.86", "The MOS score of this image is 48.86."),
    ("MOS: 76.33", "For this image, the MOS score is 76.33."),
    (
        "MOS: 62.10\nBrightness: 55.40\nSharpness: 38.25",
        "This image has a MOS of 62.10; its brightness is 55.40 and its sharpness is 38.25.",
    ),
)

_AUTHENTICITY_INSTRUCTION = """\
Given the authenticity score of an image, return a linguistic description of its authenticity without \
mentioning specific numerical values or file names. The score ranges from 0 to 100; higher is more \
realistic. An image with an authenticity score lower than 100 should be considered AI-generated, while one \
with a score of 100 is a photographic, real image. Answer with one sentence."""

_AUTHENTICITY_EXAMPLES = (
    ("Authenticity: 30.34", "It looks very much like an AI-created image."),
    ("Authenticity: 73.14", "It looks very much like an extremely realistic AI-generated image."),
    ("Authenticity: 100.00", "It appears to be a real photograph rather than an AI-generated image."),
)

_MOS_PAIR_INSTRUCTION = """\
I will give you the MOS values of two images. Compare them and tell me the result in natural language, in \
one sentence. Refer to the images as the first (or former) and the latter (or second) image. Your response \
must not include any specific values."""

_MOS_PAIR_EXAMPLES = (
    ("MOS of image1: 48.86\nMOS of image2: 75.57", "The latter image has superior quality."),
    ("MOS of image1: 63.64\nMOS of image2: 37.55", "The first image has superior quality."),
)

_PARAPHRASE_INSTRUCTION = """\
I will provide the name of a visual quality metric. Return ten different instruction queries a user could \
ask about it for a given image, as a JSON list of strings and nothing else. Vary the wording and the \
sentence structure, keep each query short and unambiguous, and include no numbers."""

_PARAPHRASE_EXAMPLES = (
    (
        "MOS",
        json.dumps([
            "How would you rate the Mean Opinion Score (MOS) of this image?",
            "What MOS would viewers give this picture?",
            "Can you estimate the mean opinion score of this image?",
            "How would people rate the overall quality of this photo on average?",
            "What do you think the average viewer rating of this image is?",
            "Please predict the MOS of this picture.",
            "How high would this image's mean opinion score be?",
            "Estimate how viewers would score the quality of this image.",
            "What overall quality score would observers assign to this picture?",
            "Could you give the expected Mean Opinion Score for this image?",
        ], ensure_ascii=False),
    ),
)

# ----------------------------------------------------------------------------- Q-SiT (paper 001)

_QSIT_SYSTEM = """\
You turn an annotator's feedback on the low-level visual quality of an image into training data for a \
visual question-answering model. Use only what the feedback states or clearly implies; never invent \
content the annotator did not describe. Reply with JSON only, with no commentary and no code fence."""

_FEEDBACK_1 = """\
Description: A close-up of a cat on a sofa. The cat's face is in sharp focus, but the background is blurry. \
The lighting is warm and the image is slightly underexposed, and there is visible noise in the dark areas of the sofa.
Conclusion: The subject is clear, but the noise and the underexposure bring the quality down to fair.
Quality level: Fair"""

_FEEDBACK_2 = """\
Description: A landscape of mountains under a clear sky. The whole image is sharp and well exposed, with \
vivid but natural colours. Some banding is visible in the gradient of the sky.
Conclusion: Good quality overall; the banding in the sky is the only flaw.
Quality level: Good"""

_YES_NO_INSTRUCTION = """\
Write yes-or-no questions about the image's low-level quality from this feedback. Questions answered "yes" \
must be supported by the feedback; questions answered "no" must be contradicted by it (ask about the \
opposite of what the annotator saw). Give exactly as many "yes" as "no" answers, between two and ten \
questions in all, in mixed order. Reply with a JSON list of {"question": ..., "answer": "yes" | "no"} objects."""

_YES_NO_EXAMPLES = (
    (_FEEDBACK_1, json.dumps([
        {"question": "Is the cat's face in focus?", "answer": "yes"},
        {"question": "Is the background sharp?", "answer": "no"},
        {"question": "Is there visible noise in the dark areas?", "answer": "yes"},
        {"question": "Is the image overexposed?", "answer": "no"},
        {"question": "Is the image slightly underexposed?", "answer": "yes"},
        {"question": "Is the overall quality excellent?", "answer": "no"},
    ], ensure_ascii=False)),
    (_FEEDBACK_2, json.dumps([
        {"question": "Is the image blurry?", "answer": "no"},
        {"question": "Is there banding in the sky?", "answer": "yes"},
        {"question": "Is the image underexposed?", "answer": "no"},
        {"question": "Are the colours natural?", "answer": "yes"},
    ], ensure_ascii=False)),
)

_MULTIPLE_CHOICE_INSTRUCTION = """\
Write multiple-choice "what" and "how" questions about the image's low-level quality from this feedback: \
"how" questions are answered with an opinion word (good, poor, slightly underexposed), "what" questions \
with an attribute or a place (noise, the background). Answer in as few words as possible. Give each \
question four options: the correct answer and three plausible distractors that the feedback rules out. \
Write between two and eight questions. Reply with a JSON list of \
{"question": ..., "answer": ..., "options": [...]} objects; the answer must be one of the options."""

_MULTIPLE_CHOICE_EXAMPLES = (
    (_FEEDBACK_1, json.dumps([
        {"question": "How is the focus on the cat's face?", "answer": "Sharp",
         "options": ["Blurry", "Sharp", "Out of focus", "Motion-blurred"]},
        {"question": "What distortion appears in the dark areas of the sofa?", "answer": "Noise",
         "options": ["Banding", "Overexposure", "Noise", "Colour cast"]},
        {"question": "How is the exposure of the image?", "answer": "Slightly underexposed",
         "options": ["Well exposed", "Overexposed", "Severely underexposed", "Slightly underexposed"]},
        {"question": "Which part of the image is blurry?", "answer": "The background",
         "options": ["The background", "The cat's face", "The whole image", "The sofa in front"]},
        {"question": "How is the overall quality of the image?", "answer": "Fair",
         "options": ["Excellent", "Good", "Fair", "Bad"]},
    ], ensure_ascii=False)),
    (_FEEDBACK_2, json.dumps([
        {"question": "What flaw is visible in the sky?", "answer": "Banding",
         "options": ["Noise", "Banding", "Blur", "Overexposure"]},
        {"question": "How are the colours of the image?", "answer": "Vivid and natural",
         "options": ["Dull", "Oversaturated", "Vivid and natural", "Monochrome"]},
        {"question": "How is the overall quality of the image?", "answer": "Good",
         "options": ["Poor", "Bad", "Fair", "Good"]},
    ], ensure_ascii=False)),
)

_CONVERSATION_INSTRUCTION = """\
Write a conversation between a user and an assistant about this image's low-level visual quality, grounded \
in the feedback. Cover some of: why the visible quality problems occur; how to take a better photograph; \
which tools could restore, enhance or edit the image; who the image suits; other questions a user might \
ask. Between four and twelve turns, starting with the user and ending with the assistant. Reply with a \
JSON list of {"role": "user" | "assistant", "content": ...} objects."""

_CONVERSATION_EXAMPLES = (
    (_FEEDBACK_1, json.dumps([
        {"role": "user", "content": "Why is the background blurry when the cat is sharp?"},
        {"role": "assistant", "content": "The photo was most likely taken with a wide aperture and focused on the "
         "cat's face, so the shallow depth of field leaves the background out of focus. In a portrait this is a "
         "deliberate look rather than a defect."},
        {"role": "user", "content": "Where does the noise in the dark areas come from?"},
        {"role": "assistant", "content": "The scene is slightly underexposed, so the camera probably raised its "
         "sensitivity or the shadows were brightened afterwards; both make sensor noise visible, above all in "
         "dark areas such as the sofa."},
        {"role": "user", "content": "How could I take a better picture of this scene?"},
        {"role": "assistant", "content": "Add light, for example by opening a curtain, or keep the sensitivity low "
         "and brace the camera for a slower shutter speed. A correct exposure keeps the shadows clean."},
        {"role": "user", "content": "Can software still improve this photo?"},
        {"role": "assistant", "content": "Yes. A denoising tool, such as the noise reduction in darktable or "
         "Lightroom, can clean the shadows, and a gentle exposure lift will brighten the image. Denoise first so "
         "that brightening does not amplify the noise."},
    ], ensure_ascii=False)),
)


DEFAULT_TEMPLATES: dict[str, PromptTemplate] = {
    template.name: template
    for template in (
        PromptTemplate(
            name="description_paragraph", version=1, task="description",
            system=_DESCRIPTION_SYSTEM, instruction=_DESCRIPTION_INSTRUCTION, examples=_DESCRIPTION_EXAMPLES,
            rules=OutputRules(forbid_digits=True, min_words=30, max_words=180),
        ),
        PromptTemplate(
            name="comparison_paragraph", version=1, task="comparison",
            system=_COMPARISON_SYSTEM, instruction=_COMPARISON_INSTRUCTION, examples=_COMPARISON_EXAMPLES,
            rules=OutputRules(forbid_digits=True, min_words=30, max_words=200),
        ),
        PromptTemplate(
            name="visualcritic_scores_description", version=1, task="scores",
            system=_VC_SYSTEM, instruction=_SCORES_INSTRUCTION, examples=_SCORES_EXAMPLES,
            rules=OutputRules(forbid_digits=True, min_words=15, max_words=150),
        ),
        PromptTemplate(
            name="visualcritic_quantitative", version=1, task="quantitative",
            system=_VC_SYSTEM, instruction=_QUANTITATIVE_INSTRUCTION, examples=_QUANTITATIVE_EXAMPLES,
            rules=OutputRules(min_words=5, max_words=80),
        ),
        PromptTemplate(
            name="visualcritic_authenticity", version=1, task="authenticity",
            system=_VC_SYSTEM, instruction=_AUTHENTICITY_INSTRUCTION, examples=_AUTHENTICITY_EXAMPLES,
            rules=OutputRules(forbid_digits=True, min_words=3, max_words=40),
        ),
        PromptTemplate(
            name="visualcritic_mos_comparison", version=1, task="mos_pair",
            system=_VC_SYSTEM, instruction=_MOS_PAIR_INSTRUCTION, examples=_MOS_PAIR_EXAMPLES,
            rules=OutputRules(forbid_digits=True, min_words=3, max_words=40),
        ),
        PromptTemplate(
            name="visualcritic_instruction_paraphrases", version=1, task="instruction_paraphrases",
            system=_VC_SYSTEM, instruction=_PARAPHRASE_INSTRUCTION, examples=_PARAPHRASE_EXAMPLES,
            rules=OutputRules(forbid_digits=True, json_shape="string_list", min_items=10, max_items=10),
            temperature=0.8,
        ),
        PromptTemplate(
            name="qsit_yes_no", version=1, task="feedback_yes_no",
            system=_QSIT_SYSTEM, instruction=_YES_NO_INSTRUCTION, examples=_YES_NO_EXAMPLES,
            rules=OutputRules(json_shape="vqa", min_items=2, max_items=10, yes_no_balanced=True),
        ),
        PromptTemplate(
            name="qsit_multiple_choice", version=1, task="feedback_multiple_choice",
            system=_QSIT_SYSTEM, instruction=_MULTIPLE_CHOICE_INSTRUCTION, examples=_MULTIPLE_CHOICE_EXAMPLES,
            rules=OutputRules(json_shape="vqa", min_items=2, max_items=8, min_options=4,
                              question_words=("what", "how", "which")),
        ),
        PromptTemplate(
            name="qsit_conversation", version=1, task="feedback_conversation",
            system=_QSIT_SYSTEM, instruction=_CONVERSATION_INSTRUCTION, examples=_CONVERSATION_EXAMPLES,
            rules=OutputRules(json_shape="conversation", min_items=4, max_items=12),
            temperature=0.7, max_tokens=1200,
        ),
    )
}


def default_template(name: str) -> PromptTemplate:
    """The built-in template called ``name`` (KeyError listing the names otherwise)."""
    try:
        return DEFAULT_TEMPLATES[name]
    except KeyError:
        raise KeyError(f"no default template {name!r}; known: {sorted(DEFAULT_TEMPLATES)}") from None
