from django.urls import path

from jobs import consumers

websocket_urlpatterns = [
    path("ws/jobs/", consumers.JobListConsumer.as_asgi()),
    path("ws/jobs/<str:address>/", consumers.JobLogConsumer.as_asgi()),
]
