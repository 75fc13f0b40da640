"""Admin for the modeling app."""
from django.contrib import admin

from modeling.models import DeviceReport


@admin.register(DeviceReport)
class DeviceReportAdmin(admin.ModelAdmin):
    list_display = ("hostname", "device_name", "cuda_available", "torch_version", "reported_at")
