"""A minimal Django project serving one DRF endpoint behind djangorestframework-api-key."""
