"""Placeholder consumers: replaced by the live job page."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class JobListConsumer(AsyncJsonWebsocketConsumer):
    pass


class JobLogConsumer(AsyncJsonWebsocketConsumer):
    pass
