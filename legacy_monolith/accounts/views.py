"""Registration, token login/logout, the caller's own profile and credential introspection."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from rest_framework import exceptions, generics, permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legacy_monolith.accounts.serializers import ProfileSerializer, RegisterSerializer


class RegisterView(generics.CreateAPIView):
    """``POST {"username", "password", "email"?}`` → 201 ``{"id", "username", "email", "token"}``.

    Passwords go through Django's validators (too short / too common → 400).
    """

    serializer_class = RegisterSerializer
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[type] = []

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.save()
        token, _ = Token.objects.get_or_create(user=user)
        return Response({**serializer.data, "token": token.key}, status=status.HTTP_201_CREATED)


class LoginView(ObtainAuthToken):
    """``POST {"username", "password"}`` → 200 ``{"token": "<key>"}``; bad credentials → 400."""

    authentication_classes: list[type] = []


class LogoutView(APIView):
    """Deletes the caller's token and ends its session, if any → 204."""

    permission_classes = [permissions.IsAuthenticated]

    def post(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(generics.RetrieveUpdateAPIView):
    """``GET`` / ``PATCH`` the caller's own profile (email, first_name, last_name)."""

    serializer_class = ProfileSerializer
    permission_classes = [permissions.IsAuthenticated]
    http_method_names = ["get", "put", "patch", "head", "options"]

    def get_object(self) -> Any:
        return self.request.user


class IntrospectView(APIView):
    """``GET`` → who the request's own credentials name, for the strangler proxy's gateway.

    The credentials are read exactly as every other view reads them (DRF's authentication
    classes: ``Authorization: Token <key>`` or the session cookie); nothing else is consulted::

        Authorization: Token 9944b0...   → 200 {"active": true, "user_id": 7,
                                                 "username": "ada", "is_staff": false}
        (none, unknown token, inactive)  → 200 {"active": false}

    ``POST`` answers the same after DRF's CSRF check of a session-authenticated request (the
    proxy asks so for a browser's writes to extracted routes): a failed check is DRF's own
    403 ``{"detail": "CSRF Failed: ..."}``, which the proxy hands to the browser.

    Never cached (``Cache-Control: no-store``): the answer is about one caller, now.
    """

    permission_classes = [permissions.AllowAny]
    http_method_names = ["get", "post", "head", "options"]

    def perform_authentication(self, request: Request) -> None:
        # lazy: a bad token must give {"active": false}, not DRF's 401, so get() authenticates
        pass

    def get(self, request: Request) -> Response:
        try:
            user = request.user
        except exceptions.AuthenticationFailed:
            user = None
        if user is None or not user.is_authenticated or not user.is_active:
            body: dict[str, Any] = {"active": False}
        else:
            body = {
                "active": True,
                "user_id": user.pk,
                "username": user.get_username(),
                "is_staff": bool(user.is_staff),
            }
        return Response(body, headers={"Cache-Control": "no-store"})

    def post(self, request: Request) -> Response:
        return self.get(request)
