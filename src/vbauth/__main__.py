from vbauth.cli import app

app()
