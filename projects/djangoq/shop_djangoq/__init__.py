"""The django-q2 project of the shop (a Q cluster on Redis)."""
