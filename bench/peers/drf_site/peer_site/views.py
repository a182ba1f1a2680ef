"""The endpoint under test: any request carrying a valid, unrevoked, unexpired API key."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey


class Protected(APIView):
    """``GET /protected``: 200 ``{"ok": true}`` with ``Authorization: Api-Key <key>``, else 403.

    ``HasAPIKey`` looks the key up by its prefix (one indexed SQLite query per request) and
    compares its SHA-512 (see settings.py); no other authentication runs, so the 403 comes from
    DRF's ``PermissionDenied``.
    """

    permission_classes = (HasAPIKey,)

    def get(self, request: Request) -> Response:
        """The body is a constant: the bench measures the authentication, not the view."""
        return Response({"ok": True})
