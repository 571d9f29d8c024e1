from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from nosana_dash import auth_views as login_views
from nosana_dash import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="jobs:list", permanent=False), name="home"),
    path("accounts/login/", login_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("ipfs/<str:cid>", views.ipfs_content, name="ipfs"),
    path("jobs/", include("jobs.urls")),
    path("wallet/", include("jobs.wallet_urls")),
    path("", include("markets.urls")),
]

# Over-large bodies are refused before any view: answer them with words (see views.bad_request).
handler400 = views.bad_request
