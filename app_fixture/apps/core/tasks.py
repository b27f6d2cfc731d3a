"""A task that writes with print(), as legacy tasks and Django's console e-mail backend do."""

from celery import shared_task


@shared_task
def say(text: str) -> str:
    print(text)
    return text
