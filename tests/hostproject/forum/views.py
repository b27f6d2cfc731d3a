import logging

from django.http import HttpResponse
from rest_framework import serializers, viewsets

from forum.models import Post, Thread

log = logging.getLogger("forum.views")


class ThreadSerializer(serializers.ModelSerializer):
    post_count = serializers.SerializerMethodField()

    class Meta:
        model = Thread
        fields = ["id", "title", "post_count"]

    def get_post_count(self, thread: Thread) -> int:
        return thread.posts.count()  # one query per thread: an N+1, as real projects have


class PostSerializer(serializers.ModelSerializer):
    class Meta:
        model = Post
        fields = ["id", "author", "body"]


class ThreadViewSet(viewsets.ModelViewSet):
    queryset = Thread.objects.all()
    serializer_class = ThreadSerializer

    def perform_create(self, serializer: ThreadSerializer) -> None:
        thread = serializer.save()
        log.info("thread created: %s", thread.pk)


class PostViewSet(viewsets.ModelViewSet):
    serializer_class = PostSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return Post.objects.filter(thread_id=self.kwargs["thread_pk"])

    def perform_create(self, serializer: PostSerializer) -> None:
        serializer.save(thread_id=self.kwargs["thread_pk"])


def home(request):  # type: ignore[no-untyped-def]
    return HttpResponse(f"<h1>Forum</h1><p>{Thread.objects.count()} threads</p>")


def boom(request):  # type: ignore[no-untyped-def]
    raise RuntimeError("forum view failed on purpose")
