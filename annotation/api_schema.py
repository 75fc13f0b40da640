"""The OpenAPI schema: components named after the view that holds their serializer, and `by_method` URLs included."""
from django.urls import URLPattern
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema


class LoupeAutoSchema(AutoSchema):
    """`GoldItemCreateApi.InputSerializer` becomes the component `GoldItemCreateInput`, not one of many `Input`s."""

    def get_serializer_name(self, serializer, direction) -> str:
        qualname = serializer.__class__.__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        parts = [part.removesuffix("Api").removesuffix("Serializer") for part in qualname.split(".")]
        return "".join(parts)


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
