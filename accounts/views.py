"""Account pages: where a signed-in user lands."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect


@login_required
def home(request):
    """Researchers land on their projects; everyone else on the projects they annotate."""
    if request.user.is_researcher:
        return redirect("annotation:project_list")
    return redirect("annotation:annotator_home")
