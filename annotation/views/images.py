"""Image pages and files: the researcher's metadata page, and the permission-checked file and thumbnail."""
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.views import View

from annotation import selectors
from annotation.models import Image
from annotation.permissions import can_view_project_images, require_project_member
from annotation.views.access import ProjectResearcherMixin, RuleRequiredMixin

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


class _ImageFileBase(RuleRequiredMixin, View):
    """Stream one stored file of an image to a member of its project; media is never served publicly."""

    field_name: str

    def has_access(self) -> bool:
        self.image = get_object_or_404(Image.objects.select_related("project"), pk=self.kwargs["image_id"])
        require_project_member(self.request.user, self.image.project)
        return can_view_project_images(self.request.user, self.image.project)

    def content_type(self) -> str:
        raise NotImplementedError

    def get(self, request, image_id):
        stored = getattr(self.image, self.field_name)
        if not stored:
            raise Http404("This image has no such file.")
        try:
            handle = stored.open("rb")
        except FileNotFoundError:
            raise Http404("The file is missing from storage.") from None
        response = FileResponse(handle, content_type=self.content_type())
        # Private: a shared cache must never hand one member's image to someone else.
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response


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
