"""OpenAPI post-processing: document the single error shape on every operation."""

from __future__ import annotations

from typing import Any

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case error code."},
                "message": {"type": "string", "description": "Human-readable message."},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

_COMMON = {
    "400": "Invalid request (code validation_error, parse_error or a domain code).",
    "401": "Not authenticated, or the token is invalid, revoked or expired.",
    "403": "Role too low, or the organization is suspended.",
    "404": "Not found, or not a member of the organization.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "409": "Conflict with the current state.",
    "410": "Gone: the object was erased or the link was already used.",
    "413": "Payload too large.",
    "415": "Unsupported media type.",
    "422": "Unprocessable: well-formed input that the domain cannot use (e.g. no face found).",
    "429": "Throttled; retry after details.retry_after_seconds.",
    "500": "Unexpected server error.",
}


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = _ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _COMMON.items():
                existing = responses.get(status)
                if existing is None:
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": ref}},
                    }
    return result
