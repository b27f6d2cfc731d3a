from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter

from forum import views

router = DefaultRouter()
router.register(r"threads", views.ThreadViewSet)
posts = SimpleRouter()
posts.register(r"threads/(?P<thread_pk>[^/.]+)/posts", views.PostViewSet, basename="thread-posts")

urlpatterns = [
    path("", views.home, name="home"),
    path("boom/", views.boom, name="boom"),
    path("api/", include(router.urls)),
    path("api/", include(posts.urls)),
]
