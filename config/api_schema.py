"""The OpenAPI schema: components named after the view that holds their serializer, the error body documented on
every operation, and `by_method` URLs included."""
from django.urls import URLPattern
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

from config.api import ErrorSerializer


class LoupeAutoSchema(AutoSchema):
    """Names components after the view that holds their serializer, and documents the error body on every operation.

    `GoldItemCreateApi.InputSerializer` becomes the component `GoldItemCreateInput`, not one of many `Input`s. Each
    operation gets the `Error` body for 400 (writes, and reads with query parameters), 403 (unless anyone may call
    it) and 404 (when its path names an object, or it takes a page number), besides the statuses its view lists.
    """

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = serializer.__class__.__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        parts = [part.removesuffix("Api").removesuffix("Serializer") for part in qualname.split(".")]
        return "".join(parts)

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        statuses = []
        query = {parameter["name"] for parameter in operation.get("parameters", []) if parameter.get("in") == "query"}
        if self.method not in ("GET", "HEAD") or query:
            statuses.append(400)
        if not all(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions()):
            statuses.append(403)
        if "{" in self.path or "page" in query:  # a page past the last one is 404 too
            statuses.append(404)
        responses = operation.setdefault("responses", {})
        for status in statuses:
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(OpenApiResponse(ErrorSerializer), str(status))
        return operation


class LoupeEndpointEnumerator(EndpointEnumerator):
    """Also lists URLs that `annotation.api.by_method` splits between one API view per HTTP method."""

    def _get_api_endpoints(self, patterns, prefix):
        if patterns is None:
            patterns = self.patterns
        endpoints = super()._get_api_endpoints(patterns, prefix)
        for pattern in patterns:
            views = getattr(getattr(pattern, "callback", None), "views_by_method", None)
            if isinstance(pattern, URLPattern) and views:
                path_regex = prefix + str(pattern.pattern)
                path = self.get_path_from_regex(path_regex)
                endpoints.extend((path, path_regex, method.upper(), view) for method, view in views.items())
        return endpoints


class LoupeSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = LoupeEndpointEnumerator
