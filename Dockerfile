# One image for the three apps of the connector; APP picks the one a container serves.
#
#   docker build --build-arg APP=event -t yotpo-loyalty-event .   # an image for one app
#   docker run -e APP=job ...                                      # or choose when starting
#
# deploy/deploy.sh builds it once with Cloud Build and deploys it three times on Cloud Run,
# setting APP per service. The container listens on $PORT (Cloud Run sets it; default 8080).
FROM python:3.11-slim

# Empty means "choose at run time with -e APP=..."; gunicorn refuses to start without one.
ARG APP=""
RUN case "${APP}" in ""|service|event|job) ;; \
      *) echo "APP must be service, event or job (got '${APP}')" >&2; exit 1 ;; \
    esac

ENV APP=${APP} \
    PORT=8080 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The runtime dependencies only (no test tools), in their own layer: code changes do not
# reinstall them.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The code is owned by root and read-only for the user the apps run as.
COPY connect.yaml ./
COPY shared/ ./shared/
COPY event/ ./event/
COPY service/ ./service/
COPY job/ ./job/
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py

RUN groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid connector --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin connector
USER 10001:10001

EXPOSE 8080

# Shell form so ${APP} is read when the container starts; exec so gunicorn is PID 1 and
# receives Cloud Run's SIGTERM itself.
CMD exec gunicorn --config deploy/gunicorn.conf.py "${APP}.wsgi:app"
