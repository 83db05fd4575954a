#!/usr/bin/env bash
# Deploy the connector to Google Cloud: the three apps on Cloud Run, Pub/Sub push with OIDC
# and a dead-letter topic, Cloud Scheduler with OIDC, secrets in Secret Manager, then the
# post-deploy scripts in commercetools. Run it again after any change: every step creates
# what is missing and updates what exists. deploy/README.md explains each step.
#
#   deploy/deploy.sh --project my-gcp-project --region europe-west1            # deploy
#   deploy/deploy.sh --project my-gcp-project --region europe-west1 --dry-run  # print only
#   deploy/deploy.sh --project my-gcp-project --region europe-west1 --uninstall
#
# Credentials come from the environment, never from arguments (arguments show in `ps` and in
# shell history); see usage() below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CT_PUBLISHER="serviceAccount:subscriptions@commercetools-platform.iam.gserviceaccount.com"
APPS=(service event job)

usage() {
  cat <<'EOF'
Usage: deploy/deploy.sh --project PROJECT --region REGION [options]

Options:
  --project ID             Google Cloud project to deploy into (required)
  --region REGION          Cloud Run, Scheduler and Artifact Registry region, e.g.
                           europe-west1 (required)
  --prefix NAME            prefix of every resource name (default: yotpo-loyalty)
  --image-tag TAG          image tag (default: the git commit, else a timestamp)
  --skip-build             deploy the image already built with --image-tag
  --schedule CRON          job schedule (default: connect.yaml's, in UTC)
  --service-min-instances N  warm instances of the checkout service (default: 1; a cold
                           start can exceed commercetools' API Extension timeout)
  --uninstall              run the pre-undeploy scripts, then delete what deploy created
  --dry-run                print every command instead of running it
  -h, --help               this text

Environment (the apps' configuration, with connect.yaml's names):
  CTP_PROJECT_KEY CTP_CLIENT_ID CTP_CLIENT_SECRET CTP_SCOPE CTP_REGION        required
  YOTPO_GUID and YOTPO_API_KEY, or YOTPO_ACCOUNTS                             required
  EXTENSION_SECRET   what commercetools sends to the checkout extension      required
  Every other key connect.yaml declares (EARNING_TRIGGER, LOG_LEVEL, ...) is passed to the
  apps that declare it when set. Secured keys are stored in Secret Manager, never printed.
  PYTHON             interpreter for the install scripts (default: .venv/bin/python, else
                     python3); it needs requirements.txt installed.
EOF
}

# --- options ----------------------------------------------------------------------------------
PROJECT=""
REGION=""
PREFIX="yotpo-loyalty"
IMAGE_TAG=""
SKIP_BUILD=0
SCHEDULE=""
SERVICE_MIN_INSTANCES=1
MODE="deploy"
DRY_RUN=0

die() {
  echo "deploy.sh: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="${2:-}"; shift 2 || die "--project needs a value" ;;
    --project=*) PROJECT="${1#*=}"; shift ;;
    --region) REGION="${2:-}"; shift 2 || die "--region needs a value" ;;
    --region=*) REGION="${1#*=}"; shift ;;
    --prefix) PREFIX="${2:-}"; shift 2 || die "--prefix needs a value" ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --image-tag) IMAGE_TAG="${2:-}"; shift 2 || die "--image-tag needs a value" ;;
    --image-tag=*) IMAGE_TAG="${1#*=}"; shift ;;
    --schedule) SCHEDULE="${2:-}"; shift 2 || die "--schedule needs a value" ;;
    --schedule=*) SCHEDULE="${1#*=}"; shift ;;
    --service-min-instances) SERVICE_MIN_INSTANCES="${2:-}"; shift 2 || die "--service-min-instances needs a value" ;;
    --service-min-instances=*) SERVICE_MIN_INSTANCES="${1#*=}"; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --uninstall) MODE="uninstall"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

# --- what connect.yaml declares -----------------------------------------------------------------
# "<app> <standard|secured> <KEY>" per configuration key (connect.yaml is generated from the
# settings classes, so its layout is regular).
connect_keys() {
  awk '
    /^  - name: / { app = $3 }
    /^      standardConfiguration:/ { kind = "standard" }
    /^      securedConfiguration:/ { kind = "secured" }
    /^        - key: / { print app, kind, $3 }
  ' "$ROOT/connect.yaml"
}

keys_of() { # keys_of APP KIND
  connect_keys | awk -v app="$1" -v kind="$2" '$1 == app && $2 == kind { print $3 }'
}

connect_script() { # connect_script APP postDeploy|preUndeploy: the command connect.yaml gives
  awk -v app="$1" -v kind="$2" '
    /^  - name: / { current = $3 }
    current == app && $1 == kind ":" { sub(/^ *[A-Za-z]+: */, ""); print; exit }
  ' "$ROOT/connect.yaml"
}

connect_schedule() {
  awk '/^      schedule: / { sub(/^ *schedule: */, ""); gsub(/"/, ""); print; exit }' \
    "$ROOT/connect.yaml"
}

is_set() { [[ -n "${!1:-}" ]]; }

# --- validate every input first, and name every problem at once ----------------------------------
problems=()
[[ -n "$PROJECT" ]] || problems+=("--project is required (the Google Cloud project id)")
[[ -z "$PROJECT" || "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] ||
  problems+=("--project '$PROJECT' is not a Google Cloud project id")
[[ -n "$REGION" ]] || problems+=("--region is required, e.g. europe-west1")
[[ -z "$REGION" || "$REGION" =~ ^[a-z]+-[a-z]+[0-9]+$ ]] ||
  problems+=("--region '$REGION' is not a Google Cloud region such as europe-west1")
# Service account ids are at most 30 characters and the longest suffix is "-invoker".
[[ "$PREFIX" =~ ^[a-z][a-z0-9-]{0,20}[a-z0-9]$ ]] ||
  problems+=("--prefix must be 2-22 lowercase letters, digits or hyphens, starting with a letter")
[[ "$SERVICE_MIN_INSTANCES" =~ ^[0-9]+$ ]] || problems+=("--service-min-instances must be a number")
for key in CTP_PROJECT_KEY CTP_CLIENT_ID CTP_CLIENT_SECRET CTP_SCOPE CTP_REGION EXTENSION_SECRET; do
  is_set "$key" || problems+=("$key is not set in the environment")
done
if ! is_set YOTPO_ACCOUNTS && ! { is_set YOTPO_GUID && is_set YOTPO_API_KEY; }; then
  problems+=("set YOTPO_GUID and YOTPO_API_KEY (one Yotpo account) or YOTPO_ACCOUNTS in the environment")
fi
[[ -f "$ROOT/connect.yaml" ]] || problems+=("connect.yaml not found next to deploy/")
if [[ $DRY_RUN -eq 0 ]] && ! command -v gcloud >/dev/null 2>&1; then
  problems+=("gcloud is not installed: https://cloud.google.com/sdk/docs/install")
fi
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON="python3"; fi
fi
if [[ $DRY_RUN -eq 0 ]] && ! "$PYTHON" -c "import flask, pydantic_settings, requests" 2>/dev/null; then
  problems+=("$PYTHON cannot run the install scripts: run 'make test' once, or pip install -r requirements.txt")
fi
if [[ ${#problems[@]} -gt 0 ]]; then
  echo "deploy.sh: cannot ${MODE} (${#problems[@]} problem(s)):" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  echo "Run deploy/deploy.sh --help for the inputs." >&2
  exit 2
fi

# --- names ----------------------------------------------------------------------------------
if [[ -z "$IMAGE_TAG" ]]; then
  IMAGE_TAG="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
fi
[[ -n "$SCHEDULE" ]] || SCHEDULE="$(connect_schedule)"
REPOSITORY="$PREFIX"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/connector:${IMAGE_TAG}"
RUN_SA="${PREFIX}-run@${PROJECT}.iam.gserviceaccount.com"
INVOKER_SA="${PREFIX}-invoker@${PROJECT}.iam.gserviceaccount.com"
TOPIC="${PREFIX}-events"
DEAD_LETTER_TOPIC="${PREFIX}-events-dead-letter"
PUSH_SUBSCRIPTION="${PREFIX}-event-push"
SCHEDULER_JOB="${PREFIX}-job"
service_name() { echo "${PREFIX}-$1"; }
# The audience Pub/Sub and Scheduler put in their tokens; Cloud Run accepts it as a custom
# audience and the app checks it (OIDC_AUDIENCE). Fixed names: no chicken-and-egg with URLs.
audience_of() { echo "https://${PREFIX}-$1.${PROJECT}"; }
secret_name() { local key="${1,,}"; echo "${PREFIX}-${key//_/-}"; }

# The app dead-letters a message itself after MAX_DELIVERY_ATTEMPTS (a record operators can
# replay); Pub/Sub's dead-letter topic is the backstop for what the app cannot record.
APP_MAX_ATTEMPTS="${MAX_DELIVERY_ATTEMPTS:-10}"
PUBSUB_MAX_ATTEMPTS=$((APP_MAX_ATTEMPTS + 5))
((PUBSUB_MAX_ATTEMPTS <= 100)) || PUBSUB_MAX_ATTEMPTS=100

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- running (or printing) commands ---------------------------------------------------------
show() { printf '+'; printf ' %q' "$@"; printf '\n'; }

run() {
  show "$@"
  [[ $DRY_RUN -eq 1 ]] || "$@"
}

# run_with_secret KEY cmd...: the command reads the value of $KEY on stdin (--data-file=-);
# only the variable's name is ever printed.
run_with_secret() {
  local key="$1"
  shift
  show "$@"
  echo "  (stdin: the value of \$$key, not shown)"
  [[ $DRY_RUN -eq 1 ]] || printf '%s' "${!key}" | "$@"
}

# exists cmd...: true when a describe command finds the resource. A dry run checks nothing:
# it shows a first deployment (nothing exists yet) or a full uninstall (everything exists).
exists() {
  if [[ $DRY_RUN -eq 1 ]]; then
    if [[ "$MODE" == "uninstall" ]]; then printf '# if present:'; else printf '# if absent:'; fi
    printf ' %q' "$@"
    printf '\n'
    [[ "$MODE" == "uninstall" ]]
    return
  fi
  "$@" >/dev/null 2>&1
}

# capture PLACEHOLDER cmd...: a value gcloud prints (a URL, the project number).
capture() {
  local placeholder="$1"
  shift
  if [[ $DRY_RUN -eq 1 ]]; then
    show "$@" >&2
    echo "$placeholder"
    return
  fi
  "$@"
}

step() { printf '\n### %s\n' "$*"; }

G=(--project="$PROJECT" --quiet)

# --- steps ------------------------------------------------------------------------------------
enable_apis() {
  step "Enable the Google Cloud APIs"
  run gcloud services enable run.googleapis.com cloudbuild.googleapis.com \
    artifactregistry.googleapis.com pubsub.googleapis.com cloudscheduler.googleapis.com \
    secretmanager.googleapis.com iam.googleapis.com "${G[@]}"
}

ensure_service_account() { # ensure_service_account EMAIL DISPLAY_NAME
  local id="${1%%@*}"
  exists gcloud iam service-accounts describe "$1" "${G[@]}" ||
    run gcloud iam service-accounts create "$id" --display-name="$2" "${G[@]}"
}

service_accounts() {
  step "Service accounts: one the apps run as, one that calls the event and job apps"
  ensure_service_account "$RUN_SA" "Yotpo loyalty connector (runtime)"
  ensure_service_account "$INVOKER_SA" "Yotpo loyalty connector (Pub/Sub push and Scheduler)"
}

# Every secured key of any app that is set goes to Secret Manager.
secured_keys() { connect_keys | awk '$2 == "secured" { print $3 }' | sort -u; }

store_secrets() {
  step "Secrets in Secret Manager (values read from the environment, never printed)"
  local key name current
  for key in $(secured_keys); do
    is_set "$key" || continue
    name="$(secret_name "$key")"
    if exists gcloud secrets describe "$name" "${G[@]}"; then
      # A new version only when the value changed: redeploying leaves secrets alone.
      current="$(gcloud secrets versions access latest --secret="$name" "${G[@]}" 2>/dev/null || true)"
      if [[ "$current" != "${!key}" ]]; then
        run_with_secret "$key" gcloud secrets versions add "$name" --data-file=- "${G[@]}"
      fi
    else
      run_with_secret "$key" gcloud secrets create "$name" --replication-policy=automatic \
        --data-file=- "${G[@]}"
    fi
    run gcloud secrets add-iam-policy-binding "$name" --member="serviceAccount:$RUN_SA" \
      --role=roles/secretmanager.secretAccessor "${G[@]}"
  done
}

build_image() {
  step "Build the image with Cloud Build"
  exists gcloud artifacts repositories describe "$REPOSITORY" --location="$REGION" "${G[@]}" ||
    run gcloud artifacts repositories create "$REPOSITORY" --repository-format=docker \
      --location="$REGION" --description="Yotpo loyalty connector images" "${G[@]}"
  if [[ $SKIP_BUILD -eq 1 ]]; then
    echo "# --skip-build: using $IMAGE"
    return
  fi
  # Uploads only the build context (deploy/gcloudignore), from the repository root.
  (cd "$ROOT" && run gcloud builds submit . --tag="$IMAGE" --ignore-file=deploy/gcloudignore \
    --region="$REGION" "${G[@]}")
}

topics() {
  step "Pub/Sub topics: commercetools publishes to ${TOPIC}"
  exists gcloud pubsub topics describe "$TOPIC" "${G[@]}" ||
    run gcloud pubsub topics create "$TOPIC" "${G[@]}"
  run gcloud pubsub topics add-iam-policy-binding "$TOPIC" --member="$CT_PUBLISHER" \
    --role=roles/pubsub.publisher "${G[@]}"
  exists gcloud pubsub topics describe "$DEAD_LETTER_TOPIC" "${G[@]}" ||
    run gcloud pubsub topics create "$DEAD_LETTER_TOPIC" "${G[@]}"
  # A topic keeps nothing by itself: this subscription holds dead letters for inspection.
  exists gcloud pubsub subscriptions describe "$DEAD_LETTER_TOPIC" "${G[@]}" ||
    run gcloud pubsub subscriptions create "$DEAD_LETTER_TOPIC" --topic="$DEAD_LETTER_TOPIC" \
      --message-retention-duration=7d --expiration-period=never "${G[@]}"
}

yaml_quote() { # a JSON string is a YAML string
  local value="${1//\\/\\\\}"
  value="${value//\"/\\\"}"
  printf '"%s"' "$value"
}

# The non-secret configuration of one app, as a file for --env-vars-file (values may contain
# commas, which --set-env-vars would split).
env_file() { # env_file APP WORKERS
  local app="$1" file="$WORK/$1.env.yaml" key
  {
    echo "APP: $(yaml_quote "$app")"
    echo "WEB_CONCURRENCY: $(yaml_quote "$2")"
    for key in $(keys_of "$app" standard); do
      if is_set "$key"; then echo "$key: $(yaml_quote "${!key}")"; fi
    done
    if [[ "$app" != "service" ]]; then
      echo "OIDC_AUDIENCE: $(yaml_quote "$(audience_of "$app")")"
      echo "OIDC_SERVICE_ACCOUNT_EMAIL: $(yaml_quote "$INVOKER_SA")"
    fi
  } >"$file"
  echo "# $file:" >&2
  sed 's/^/#   /' "$file" >&2
  echo "$file"
}

secrets_flag() { # --set-secrets=KEY=name:latest,... for the secured keys APP declares and are set
  local app="$1" key pairs=()
  for key in $(keys_of "$app" secured); do
    if is_set "$key"; then pairs+=("$key=$(secret_name "$key"):latest"); fi
  done
  local IFS=,
  echo "--set-secrets=${pairs[*]}"
}

deploy_app() { # deploy_app APP
  local app="$1" name file workers threads args
  name="$(service_name "$app")"
  case "$app" in
    service) workers=2; threads=8
      # Public: commercetools calls the extension with EXTENSION_SECRET, Yotpo its webhooks.
      args=(--allow-unauthenticated --timeout=30s --min-instances="$SERVICE_MIN_INSTANCES") ;;
    event) workers=2; threads=8
      # Pub/Sub push waits 10 s; only the invoker account may call it.
      args=(--no-allow-unauthenticated --timeout=10s --set-custom-audiences="$(audience_of event)") ;;
    job) workers=1; threads=1
      # One run at a time, up to Connect's 30 minutes.
      args=(--no-allow-unauthenticated --timeout=1800s --max-instances=1
        --set-custom-audiences="$(audience_of job)") ;;
  esac
  file="$(env_file "$app" "$workers")"
  run gcloud run deploy "$name" --image="$IMAGE" --region="$REGION" \
    --service-account="$RUN_SA" --env-vars-file="$file" "$(secrets_flag "$app")" \
    --port=8080 --cpu=1 --memory=512Mi --cpu-boost --concurrency=$((workers * threads)) \
    "${args[@]}" "${G[@]}"
}

service_url() { # service_url APP
  capture "https://$(service_name "$1")-HASH-uc.a.run.app" \
    gcloud run services describe "$(service_name "$1")" --region="$REGION" \
    --format='value(status.url)' "${G[@]}"
}

deploy_apps() {
  step "Cloud Run services (one image, APP chooses the app)"
  local app
  for app in "${APPS[@]}"; do deploy_app "$app"; done
  for app in event job; do
    run gcloud run services add-iam-policy-binding "$(service_name "$app")" --region="$REGION" \
      --member="serviceAccount:$INVOKER_SA" --role=roles/run.invoker "${G[@]}"
  done
}

push_subscription() {
  step "Push subscription: Pub/Sub -> the event app, with OIDC and a dead-letter topic"
  local number agent event_url flags
  number="$(capture PROJECT_NUMBER gcloud projects describe "$PROJECT" \
    --format='value(projectNumber)')"
  agent="serviceAccount:service-${number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Pub/Sub signs tokens as the invoker account, dead-letters, and acks what it dead-letters.
  run gcloud iam service-accounts add-iam-policy-binding "$INVOKER_SA" --member="$agent" \
    --role=roles/iam.serviceAccountTokenCreator "${G[@]}"
  run gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --member="$agent" \
    --role=roles/pubsub.publisher "${G[@]}"
  event_url="$(service_url event)"
  flags=(--push-endpoint="${event_url}/event" --push-auth-service-account="$INVOKER_SA"
    --push-auth-token-audience="$(audience_of event)" --ack-deadline=10
    --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts="$PUBSUB_MAX_ATTEMPTS"
    --min-retry-delay=10s --max-retry-delay=600s "${G[@]}")
  if exists gcloud pubsub subscriptions describe "$PUSH_SUBSCRIPTION" "${G[@]}"; then
    run gcloud pubsub subscriptions update "$PUSH_SUBSCRIPTION" "${flags[@]}"
  else
    run gcloud pubsub subscriptions create "$PUSH_SUBSCRIPTION" --topic="$TOPIC" \
      --message-retention-duration=7d --expiration-period=never "${flags[@]}"
  fi
  run gcloud pubsub subscriptions add-iam-policy-binding "$PUSH_SUBSCRIPTION" --member="$agent" \
    --role=roles/pubsub.subscriber "${G[@]}"
}

scheduler_job() {
  step "Cloud Scheduler: POST /job on '${SCHEDULE}' (UTC), with OIDC"
  local job_url flags
  job_url="$(service_url job)"
  flags=(--location="$REGION" --schedule="$SCHEDULE" --time-zone=UTC --uri="${job_url}/job"
    --http-method=POST --message-body='{}' --oidc-service-account-email="$INVOKER_SA"
    --oidc-token-audience="$(audience_of job)" --attempt-deadline=30m "${G[@]}")
  if exists gcloud scheduler jobs describe "$SCHEDULER_JOB" --location="$REGION" "${G[@]}"; then
    run gcloud scheduler jobs update http "$SCHEDULER_JOB" "${flags[@]}" \
      --update-headers=Content-Type=application/json
  else
    run gcloud scheduler jobs create http "$SCHEDULER_JOB" "${flags[@]}" \
      --headers=Content-Type=application/json
  fi
}

# connect_variables APP: what Connect injects into that app's scripts.
connect_variables() {
  case "$1" in
    service) echo "CONNECT_SERVICE_URL=$(service_url service)" ;;
    event) echo "CONNECT_GCP_PROJECT_ID=$PROJECT CONNECT_GCP_TOPIC_NAME=$TOPIC" ;;
  esac
}

# run_scripts postDeploy|preUndeploy: connect.yaml's scripts, app by app, as Connect runs
# them, with this environment's configuration ("python" is $PYTHON).
run_scripts() {
  local kind="$1" app script argv variables
  for app in "${APPS[@]}"; do
    script="$(connect_script "$app" "$kind")"
    [[ -n "$script" ]] || continue
    read -ra argv <<<"$script"
    [[ "${argv[0]}" != "python" ]] || argv[0]="$PYTHON"
    variables=""
    [[ "$kind" != "postDeploy" ]] || variables="$(connect_variables "$app")"
    # shellcheck disable=SC2086 # the variables are NAME=value words without spaces
    (cd "$ROOT" && run env $variables "${argv[@]}")
  done
}

install_scripts() {
  step "commercetools: the post-deploy scripts (API Extension, fields, Subscription)"
  run_scripts postDeploy
}

summary() {
  step "Done"
  cat <<EOF
Image:             $IMAGE
Cloud Run:         $(service_name service) (public), $(service_name event), $(service_name job)
Topic:             projects/$PROJECT/topics/$TOPIC (commercetools Subscription yotpo-loyalty-events)
Push subscription: $PUSH_SUBSCRIPTION (dead letters: $DEAD_LETTER_TOPIC)
Scheduler:         $SCHEDULER_JOB ($SCHEDULE UTC)
Verify:            deploy/README.md, "Verify"
EOF
  yotpo_admin_steps "$(service_url service)"
}

# What only the merchant can do, in the Yotpo admin: no public Yotpo page documents an API that
# registers the loyalty webhooks or a reward's coupon URLs (deploy/README.md, step 5).
yotpo_admin_steps() { # yotpo_admin_steps SERVICE_URL
  local url="$1" header="${YOTPO_WEBHOOK_SECRET_HEADER:-X-Yotpo-Webhook-Secret}"
  cat <<EOF

Now in the Yotpo admin (deploy/README.md, "5. In the Yotpo admin"):
  Webhooks:            $url/yotpo/webhooks
                       topics swell/points/changed, swell/tier/earned, swell/tier/lost,
                       swell/tier/status/changed, swell/point_redemption/cancellation_request
                       secret: the value of \$YOTPO_WEBHOOK_SECRET, sent as $header
                       (if Yotpo cannot send a header: set YOTPO_WEBHOOK_URL_TOKEN and
                       register $url/yotpo/webhooks?token=<its value>)
  Create Coupons URL:  $url/yotpo/coupons
  Cancel Coupons URL:  $url/yotpo/coupons/cancel
                       secret: the value of \$YOTPO_COUPON_SECRET (Yotpo sends it as X-Api-Secret)
EOF
  if ! is_set YOTPO_WEBHOOK_SECRET; then
    echo "  ! YOTPO_WEBHOOK_SECRET is not set: the webhooks answer 404 not_configured, so"
    echo "    cancelled reward codes stay on carts and balances update only nightly."
  fi
  if ! is_set YOTPO_COUPON_SECRET; then
    echo "  ! YOTPO_COUPON_SECRET is not set: the Create/Cancel Coupons URLs are off."
  fi
}

uninstall() {
  step "commercetools: the pre-undeploy scripts (remove the API Extension and the Subscription)"
  run_scripts preUndeploy
  step "Google Cloud: delete what deploy.sh created"
  local sub app key topic
  if exists gcloud scheduler jobs describe "$SCHEDULER_JOB" --location="$REGION" "${G[@]}"; then
    run gcloud scheduler jobs delete "$SCHEDULER_JOB" --location="$REGION" "${G[@]}"
  fi
  for sub in "$PUSH_SUBSCRIPTION" "$DEAD_LETTER_TOPIC"; do
    if exists gcloud pubsub subscriptions describe "$sub" "${G[@]}"; then
      run gcloud pubsub subscriptions delete "$sub" "${G[@]}"
    fi
  done
  for topic in "$TOPIC" "$DEAD_LETTER_TOPIC"; do
    if exists gcloud pubsub topics describe "$topic" "${G[@]}"; then
      run gcloud pubsub topics delete "$topic" "${G[@]}"
    fi
  done
  for app in "${APPS[@]}"; do
    if exists gcloud run services describe "$(service_name "$app")" --region="$REGION" "${G[@]}"
    then
      run gcloud run services delete "$(service_name "$app")" --region="$REGION" "${G[@]}"
    fi
  done
  for key in $(secured_keys); do
    if exists gcloud secrets describe "$(secret_name "$key")" "${G[@]}"; then
      run gcloud secrets delete "$(secret_name "$key")" "${G[@]}"
    fi
  done
  echo "# Kept: the service accounts and the image repository $REPOSITORY (see deploy/README.md)."
}

if [[ $DRY_RUN -eq 1 ]]; then
  echo "# dry run (${MODE}): nothing is changed; these are the commands it would run."
fi
if [[ "$MODE" == "uninstall" ]]; then
  uninstall
  exit 0
fi
enable_apis
service_accounts
store_secrets
build_image
topics
deploy_apps
push_subscription
scheduler_job
install_scripts
summary
