from django.urls import path

from pizzas import views

urlpatterns = [
    path("", views.home),
    path("health/", views.health),
]
