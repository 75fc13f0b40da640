"""`/favicon.ico`: the icon browsers ask for at the site root, served from static/ (public, like every static file)."""
from django.conf import settings
from django.http import FileResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    """The loupe icon from static/favicon.ico; browsers that read base.html's <link rel=icon> get the hashed copy."""
    return FileResponse((settings.BASE_DIR / "static" / "favicon.ico").open("rb"), content_type="image/x-icon")
