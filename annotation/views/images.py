"""Image pages and files: the researcher's metadata page, file and thumbnail by image id, and the annotators' opaque
signed image URLs (annotation/image_links.py), their only way to an image."""
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views import View
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from annotation import image_links, selectors
from annotation.models import Image
from annotation.views.access import ProjectResearcherMixin

# Pillow format name -> the type browsers expect; thumbnails are always JPEG.
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}


class ImageDetailView(ProjectResearcherMixin, View):
    """Everything known about one image, hidden ground truth included (researchers only)."""

    def get_project(self):
        images = Image.objects.select_related("project", "reference", "import_batch")
        self.image = get_object_or_404(images, pk=self.kwargs["image_id"])
        return self.image.project

    def get(self, request, image_id):
        context = {
            "project": self.project,
            "image": self.image,
            "distorted_versions": selectors.image_distorted_versions(image=self.image),
        }
        return render(request, "annotation/image_detail.html", context)


def _file_response(image: Image, field_name: str, content_type: str, *, cache_control: str) -> FileResponse:
    stored = getattr(image, field_name)
    if not stored:
        raise Http404("This image has no such file.")
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _ImageFileBase(ProjectResearcherMixin, View):
    """Stream one stored file of an image, by id, to a researcher who manages its project; media is never public.

    Annotators get images only through the signed links of their own leases (SignedImageView): an id names any
    image of the project, so an annotator member is refused here (403), a user outside the project gets 404.
    """

    field_name: str

    def get_project(self):
        self.image = get_object_or_404(Image.objects.select_related("project"), pk=self.kwargs["image_id"])
        return self.image.project

    def content_type(self) -> str:
        raise NotImplementedError

    def get(self, request, image_id):
        # Private: a shared cache must never hand one member's image to someone else.
        return _file_response(self.image, self.field_name, self.content_type(), cache_control="private, max-age=3600")


class ImageFileView(_ImageFileBase):
    """The original file, as imported."""

    field_name = "file"

    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.image.format.upper(), "application/octet-stream")


class ImageThumbnailView(_ImageFileBase):
    """The small JPEG made at import."""

    field_name = "thumbnail"

    def content_type(self) -> str:
        return "image/jpeg"


def _requester(request):
    """The signed-in user, else the owner of the request's API token (`Authorization: Token <key>`), else None."""
    if request.user.is_authenticated:
        return request.user
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return found[0] if found else None


class SignedImageView(View):
    """An image behind an opaque signed URL, for the user (session or API token) whose lease it was made for.

    Anything wrong (no user, another user, a forged, expired or malformed value) is the same 404, so a URL
    says nothing to whoever should not have it. No login redirect: API clients load these with their token.
    """

    http_method_names = ["get", "head"]

    def get(self, request, signed):
        linked = image_links.image_link_resolve(signed=signed, user=_requester(request))
        if linked is None:
            raise Http404("No such image.")
        if linked.thumbnail:
            field_name, content_type = "thumbnail", "image/jpeg"
        else:
            field_name, content_type = "file", CONTENT_TYPES.get(linked.image.format.upper(), "application/octet-stream")
        # Each URL is made for one lease and lives minutes: nothing worth keeping in any cache for long.
        return _file_response(linked.image, field_name, content_type, cache_control="private, max-age=300")
