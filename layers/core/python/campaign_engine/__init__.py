"""The domain of API-triggered campaigns: models, storage, rendering, channels, and the
trigger and delivery pipelines that every Lambda function of the stack shares."""
