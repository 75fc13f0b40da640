"""Account routes: password change and reset (unnamespaced: Django's auth views reverse `password_change_done` and
`password_reset_complete` by these names). Invitations and member actions live with projects (annotation/urls.py)."""
from django.contrib.auth import views as auth_views
from django.urls import path

urlpatterns = [
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("accounts/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]
