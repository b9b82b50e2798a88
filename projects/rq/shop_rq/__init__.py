"""The RQ project of the shop (RQ through django-rq, on Redis)."""
