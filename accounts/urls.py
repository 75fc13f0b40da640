"""Account routes: invitations, password change and reset, deactivation (unnamespaced: Django's auth views
reverse `password_change_done` and `password_reset_complete` by these names)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.member_views import InvitationAcceptView, InvitationCreateView, PasswordResetLinkView, UserDeactivateView

urlpatterns = [
    path("accounts/invite/<str:token>/", InvitationAcceptView.as_view(), name="invitation_accept"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("projects/<int:project_id>/members/invitations/", InvitationCreateView.as_view(), name="invitation_create"),
    path("projects/<int:project_id>/members/<int:membership_id>/reset-link/", PasswordResetLinkView.as_view(), name="password_reset_link"),
    path("projects/<int:project_id>/members/<int:membership_id>/deactivate/", UserDeactivateView.as_view(), name="user_deactivate"),
]
