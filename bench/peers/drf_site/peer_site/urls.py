"""One route: the endpoint under test."""

from django.urls import path

from peer_site.views import Protected

urlpatterns = [path("protected", Protected.as_view())]
