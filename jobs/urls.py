from django.urls import path

from jobs import composer_views, post_views, views

app_name = "jobs"

urlpatterns = [
    # job list and live job page (views.py)
    path("", views.job_list, name="list"),
    # composer, drafts, validation, templates (composer_views.py)
    path("new", composer_views.composer, name="new"),
    path("new/validate", composer_views.validate, name="validate"),
    path("new/sync-json", composer_views.sync_json, name="sync_json"),
    path("new/template/<slug:slug>", composer_views.from_template, name="template"),
    path("new/download", composer_views.download, name="download"),
    path("drafts", composer_views.drafts, name="drafts"),
    path("drafts/<int:pk>", composer_views.open_draft, name="draft"),
    path("drafts/<int:pk>/delete", composer_views.delete_draft, name="delete_draft"),
    # posting and managing a job (post_views.py)
    path("post", post_views.post_step, name="post"),
    path("post/confirm", post_views.post_confirm, name="post_confirm"),
    path("<str:address>/stop", post_views.stop, name="stop"),
    path("<str:address>/extend", post_views.extend, name="extend"),
    # job page, logs (views.py)
    path("<str:address>", views.job_detail, name="detail"),
    path("<str:address>/logs.txt", views.job_logs_raw, name="logs_raw"),
    path("<str:address>/steps/<path:op_id>/logs.txt", views.step_logs_raw, name="step_logs_raw"),
    path("<str:address>/lines", views.job_lines, name="lines"),
    path("<str:address>/definition.json", views.job_definition, name="definition"),
    path("<str:address>/result.json", views.job_result, name="result"),
]
