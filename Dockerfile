# vbauth in a container: the locked dependencies, no compiler, an unprivileged user.
# Untested here (no container engine on the machines this project is built on): docs/deploy.md.
#   docker build -t vbauth .
#   docker run -p 8000:8000 -e VBAUTH_JWT_SECRET=... -e VBAUTH_DATABASE_URL=... vbauth
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv==0.13.8" \
    && useradd --system --create-home --home-dir /var/lib/vbauth vbauth
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
# The locked runtime dependencies only (no test tools), into /app/.venv.
RUN uv sync --frozen --no-dev --no-editable
ENV PATH="/app/.venv/bin:$PATH" VBAUTH_DATA_DIR=/var/lib/vbauth
# The default SQLite database, the generated secret and the metric files: outside the image.
VOLUME /var/lib/vbauth
USER vbauth
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"
# Migrates, then serves. Set VBAUTH_JWT_SECRET (the same on every instance) in production.
CMD ["vbauth", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
