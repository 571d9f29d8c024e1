from django.urls import path

from jobs import post_views

app_name = "wallet"

urlpatterns = [path("", post_views.wallet, name="show")]
