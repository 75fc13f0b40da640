"""The Celery app: two queues (`default`, `gpu`) and task defaults that make every task safe to run twice."""
import os

from celery import Celery
from kombu import Queue as KombuQueue

from config.queues import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("loupe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [KombuQueue(q.value, routing_key=q.value) for q in Queue]
app.conf.task_default_queue = Queue.DEFAULT.value
app.conf.task_default_routing_key = Queue.DEFAULT.value
# Tasks go to `default` unless routed here; every GPU task is named in one place.
app.conf.task_routes = {
    name: {"queue": Queue.GPU.value}
    for name in ("modeling.device_report", "modeling.critic_retrain", "modeling.critic_score_pool", "modeling.critic_generate",
                 "studies.system_generate_critic", "system_benchmarks.run_critic")
}
app.autodiscover_tasks()
