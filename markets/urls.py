from django.urls import path

from markets import views

app_name = "markets"

urlpatterns = [
    path("markets/", views.market_list, name="list"),
    path("markets/refresh", views.refresh, name="refresh"),
    path("markets/refresh/<int:pk>", views.refresh_progress, name="refresh_progress"),
    path("markets/picker", views.picker, name="picker"),
    path("markets/<str:address>", views.market_detail, name="detail"),
    path("nodes/", views.node_list, name="nodes"),
    path("nodes/<str:address>", views.node_detail, name="node"),
]
