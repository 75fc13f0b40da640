"""The Celery app: two queues (`default`, `gpu`) and task defaults that make every task safe to run twice."""
import os

from celery import Celery
from kombu import Queue as KombuQueue

from config.queues import Queue
from config.tasks import task_route

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("loupe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [KombuQueue(q.value, routing_key=q.value) for q in Queue]
app.conf.task_default_queue = Queue.DEFAULT.value
app.conf.task_default_routing_key = Queue.DEFAULT.value
# Each task names its queue where it is declared (config/tasks.py: default_task, gpu_task); no name list here.
app.conf.task_routes = (task_route,)
app.autodiscover_tasks()
