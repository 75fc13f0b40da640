"""Turn human labels into the critic's training conversations (papers 000, 001, 002).

Django-free core (DESIGN.md, "Cores without Django"): the Django side reads its rows,
builds the plain label dataclasses below, and calls these builders. Every builder
returns :class:`Conversation` objects in the chat format that Hugging Face chat
templates read: a list of messages, each ``{"role": ..., "content": [segments]}``
where a segment is ``{"type": "image", "index": i}`` (``i`` indexes
``Conversation.images``) or ``{"type": "text", "text": ...}``.

Formats
-------
- Relativity (paper 000, Sec. 3.2): two images from the same source, "which image has
  better quality?", answered ``"The first image has better quality."`` or ``"second"``;
  from human pair judgements or from MOS.
- Scoring syllabus (paper 001, Sec. III-A4, eq. 1): a score is mapped to one of five
  levels by equal intervals between the source's lowest and highest score, answered
  ``"The quality of the image is <level>."``.
- Descriptions (paper 001, Sec. III-B2): pathway feedback or a revised questionnaire
  paragraph as the answer to "describe the quality".
- Comparison reasoning (paper 002, Sec. 4): images wrapped in the unique tags
  ``<Img-Reference>``, ``<Img-A>``, ``<Img-B>`` (closing tags with a slash).
- Authenticity (paper 000, Sec. 3.2): photograph or AI-generated.

Every instruction starts with the paper 000 task identifier (``<IQA_QUANT>``,
``<IQA_DES>``, ``<AUTHENTICITY>``) unless disabled, and is drawn from a pool of
paraphrases with a caller's ``np.random.Generator``.

The builders live in one module per kind (:mod:`.relativity`, :mod:`.scoring`, :mod:`.descriptions`,
:mod:`.authenticity`), beside the labels they read (:mod:`.labels`), the conversation and its config
(:mod:`.common`) and the mixing of tasks into curriculum stages (:mod:`.mixing`); this package re-exports
them (and the fixed words of :mod:`modeling.conversation_prompts`) as ``modeling.conversations``, the name
every caller and every pickled training set uses.
"""

from modeling.conversation_prompts import (  # noqa: F401 -- re-exported as part of this module's API
    TASK_QUANTITATIVE,
    TASK_DESCRIPTION,
    TASK_AUTHENTICITY,
    LEVELS,
    ANSWER_PREFIX_SCORE,
    ANSWER_PREFIX_PAIR,
    SCORING_SYSTEM_PROMPT,
    TAG_REFERENCE,
    TAG_A,
    TAG_B,
    TASKS,
    QUESTION_POOLS,
    SHORT_ANSWER_HINTS,
    TASK_IDENTIFIERS,
    AUTHENTICITY_ANSWERS,
    AUTHENTICITY_FORMS,
    AUTHENTICITY_HINTS,
    REFERENCE_DESCRIPTION_QUESTIONS,
)
from modeling.conversations.authenticity import authenticity_answer, authenticity_conversations
from modeling.conversations.common import Conversation, ConversationConfig, instruction
from modeling.conversations.descriptions import comparison_reasoning_conversations, description_conversations
from modeling.conversations.labels import (
    AuthenticityLabel, ComparisonReasoning, ImageDescription, PairJudgement, ScoredImage, SentencePair,
)
from modeling.conversations.mixing import DEFAULT_CURRICULUM, CurriculumStage, curriculum_conversations, mix_conversations
from modeling.conversations.relativity import (  # noqa: F401 -- sentence_without_verdict too, as before the split
    pair_answer, relativity_from_judgements, relativity_from_scores, relativity_from_sentences, sentence_without_verdict,
)
from modeling.conversations.scoring import level_from_score, levels_from_scores, score_answer, scoring_conversations

__all__ = [
    "ANSWER_PREFIX_PAIR",
    "ANSWER_PREFIX_SCORE",
    "AuthenticityLabel",
    "ComparisonReasoning",
    "Conversation",
    "ConversationConfig",
    "CurriculumStage",
    "DEFAULT_CURRICULUM",
    "ImageDescription",
    "LEVELS",
    "SCORING_SYSTEM_PROMPT",
    "PairJudgement",
    "QUESTION_POOLS",
    "ScoredImage",
    "SentencePair",
    "TASK_AUTHENTICITY",
    "TASK_DESCRIPTION",
    "TASK_QUANTITATIVE",
    "TASKS",
    "authenticity_answer",
    "authenticity_conversations",
    "comparison_reasoning_conversations",
    "curriculum_conversations",
    "description_conversations",
    "instruction",
    "level_from_score",
    "levels_from_scores",
    "mix_conversations",
    "pair_answer",
    "relativity_from_judgements",
    "relativity_from_scores",
    "relativity_from_sentences",
    "score_answer",
    "scoring_conversations",
]
