"""Admin for the modeling app."""
from django.contrib import admin

from modeling.assist.models import ConstructedText, LLMCall, PromptVersion, VQAItem

from modeling.critic.models import CriticScore, CriticText, CriticVersion, GeneralDataUpload

from modeling.models import DeviceReport


@admin.register(DeviceReport)
class DeviceReportAdmin(admin.ModelAdmin):
    list_display = ("hostname", "device_name", "cuda_available", "torch_version", "reported_at")


# --- LLM-assisted text (issue 5) -------------------------------------------------------------------


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "project", "active", "created_by", "created_at")
    list_filter = ("name", "active", "project")


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "project", "purpose", "model", "ok", "attempts", "prompt_tokens", "completion_tokens", "cost", "latency_ms")
    list_filter = ("purpose", "ok", "model", "project")


@admin.register(VQAItem)
class VQAItemAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "status", "question", "answer", "model")
    list_filter = ("kind", "status", "project")
    raw_id_fields = ("source_judgement", "reviewed_by")


# --- the critic (issue 8) ----------------------------------------------------------------------------


@admin.register(CriticVersion)
class CriticVersionAdmin(admin.ModelAdmin):
    list_display = ("project", "number", "status", "model_type", "n_judgements", "score_status", "created_at")
    list_filter = ("status", "project")
    raw_id_fields = ("parent",)


@admin.register(CriticScore)
class CriticScoreAdmin(admin.ModelAdmin):
    list_display = ("version", "image", "score", "variance")
    raw_id_fields = ("version", "image")


@admin.register(GeneralDataUpload)
class GeneralDataUploadAdmin(admin.ModelAdmin):
    list_display = ("project", "name", "n_records", "n_images", "size_bytes", "uploaded_by", "created_at")
    list_filter = ("project",)
    raw_id_fields = ("project", "uploaded_by")


@admin.register(CriticText)
class CriticTextAdmin(admin.ModelAdmin):
    list_display = ("version", "image", "task", "created_at")
    raw_id_fields = ("version", "image")


@admin.register(ConstructedText)
class ConstructedTextAdmin(admin.ModelAdmin):
    list_display = ("project", "purpose", "input_key", "status", "model", "prompt_name", "prompt_version", "created_at")
    list_filter = ("purpose", "status", "project")
