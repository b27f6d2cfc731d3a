from django.db import models


class Thread(models.Model):
    title = models.CharField(max_length=200)

    class Meta:
        ordering = ["id"]


class Post(models.Model):
    thread = models.ForeignKey(Thread, related_name="posts", on_delete=models.CASCADE)
    author = models.CharField(max_length=100)
    body = models.TextField()

    class Meta:
        ordering = ["id"]
