"""Registration, token login/logout and the caller's own profile."""

from __future__ import annotations

from typing import Any

from rest_framework import generics, permissions, status
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
    """Deletes the caller's token (and ends a session, if any) → 204."""

    permission_classes = [permissions.IsAuthenticated]

    def post(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(generics.RetrieveUpdateAPIView):
    """``GET`` / ``PATCH`` the caller's own profile (email, first_name, last_name)."""

    serializer_class = ProfileSerializer
    permission_classes = [permissions.IsAuthenticated]
    http_method_names = ["get", "put", "patch", "head", "options"]

    def get_object(self) -> Any:
        return self.request.user
