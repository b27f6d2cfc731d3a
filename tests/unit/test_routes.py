"""Route templates from what Django's resolver reports, on a real URLconf with DRF routers."""

from __future__ import annotations

import pytest

from otel_trainerhub.instrumentation.django.routes import template


@pytest.mark.parametrize(
    "route, expected",
    [
        ("", "/"),
        ("^$", "/"),
        ("api/bookings/<int:booking_id>/invoice/", "api/bookings/<int:booking_id>/invoice/"),
        ("api/threads/(?P<thread_pk>[^/.]+)/posts/$", "api/threads/{thread_pk}/posts/"),
        (r"api/threads/(?P<pk>[^/.]+)\.(?P<format>[a-z0-9]+)/?$", "api/threads/{pk}.{format}/"),
        (r"^articles/([0-9]{4})/(\d+)/$", "articles/{arg1}/{arg2}/"),
        (r"^(?:page-(?P<n>\d+)/)?$", "page-{n}/"),
        (r"^files/(?P<path>.*)\Z", "files/{path}"),
        ("robots.txt", "robots.txt"),
    ],
)
def test_template(route: str, expected: str) -> None:
    assert template(route) == expected


def test_templates_of_a_drf_router_as_django_resolves_them() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF=__name__, INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"])
    import django

    django.setup()
    from django.urls import re_path, resolve

    patterns = [re_path(r"^threads/(?P<thread_pk>[^/.]+)/posts/(?P<pk>[^/.]+)/$", lambda r: None)]
    match = resolve("/threads/7/posts/9/", urlconf=type("U", (), {"urlpatterns": patterns}))
    assert template(match.route) == "threads/{thread_pk}/posts/{pk}/"
