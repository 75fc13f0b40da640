"""Page routes of pair selection. config/urls.py joins them into the `evaluation` namespace, where their names have always been."""
from django.urls import path

from modeling.selection import views

urlpatterns = [
    path("projects/<int:project_id>/pair-queue/", views.PairQueueView.as_view(), name="pair_queue"),
]
