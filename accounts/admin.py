"""Admin for users, with their role."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class LoupeUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "is_staff", "is_superuser", "is_active")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Loupe", {"fields": ("role",)}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Loupe", {"fields": ("role",)}),)
