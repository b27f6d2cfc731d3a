from django.core.management.base import BaseCommand

from forum.models import Post, Thread


class Command(BaseCommand):
    help = "Three threads with a few posts each (the same rows on every run)."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        for t in range(1, 4):
            thread = Thread.objects.create(title=f"Thread {t}")
            for p in range(t + 1):
                Post.objects.create(thread=thread, author=f"member{p}", body=f"post {p} of thread {t}")
