//! Model calls: begun with the facts the run's stop rules need (the agent's status, the
//! tenant's quota, the most the call could cost), then carried out through the agent's
//! provider and recorded with its usage, latency and cost.

use std::time::Instant;

use chrono::Utc;
use domain::agent::AgentStatus;
use domain::run::{Message, Run, RunCommand, RunError};
use domain::tool_invocation::failure_message;

use crate::driver::{Cause, Recorded, ids};
use crate::provider::{ModelRequest, ToolSpec};
use crate::steps::reasons;
use crate::{Engine, EngineError, pricing, tools};

impl Engine {
    /// Begins model call `step`, with the facts its stop rules need.
    pub(crate) async fn begin_model_call(
        &self,
        run: &Run,
        generation: u32,
        step: u32,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let tenant_id = ids(run)?.1;
        let agent_status = self.agent(run).await?.0;
        let quota_exceeded = self.quota.quota_exceeded(tenant_id).await?;
        let request = self.model_request(run, run.conversation(), step).await?;
        let command = RunCommand::BeginModelCall {
            tenant_id,
            lease_generation: generation,
            step,
            estimated_cost_micros: request.as_ref().map_or(0, pricing::estimate_micros),
            agent_status,
            quota_exceeded,
            now: Utc::now(),
        };
        self.record(run, command, cause).await
    }

    /// Calls the model for the pending model call `step` and records its answer (or why
    /// there is none). After a crash this runs again for the same step: the model is
    /// called again, and the run records one answer.
    pub(crate) async fn call_model(
        &self,
        run: &Run,
        generation: u32,
        step: u32,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let tenant_id = ids(run)?.1;
        let messages = run.messages_in(step).unwrap_or_default();
        let Some(request) = self.model_request(run, messages, step).await? else {
            return self.fail_run(run, "the run names no model", cause).await;
        };
        let Some(provider) = self.providers.get(&request.model.provider) else {
            let provider = &request.model.provider;
            let error = format!("model provider `{provider}` is not available to this engine");
            return self.fail_run(run, &error, cause).await;
        };
        let started = Instant::now();
        let reply = provider.complete(&request).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let answer = reply
            .map_err(|err| err.0)
            .and_then(|reply| Ok((tools::answer_message(&reply, &request.tools)?, reply.usage)));
        let (output, usage) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                return self
                    .fail_model_call(run, generation, step, &error, cause)
                    .await;
            }
        };
        let metadata = self.agent(run).await?.1;
        let command = RunCommand::CompleteModelCall {
            tenant_id,
            lease_generation: generation,
            step,
            approval_required: tools::approvals_required(&output, &request.tools, &metadata),
            output,
            usage,
            latency_ms,
            cost_micros: pricing::cost_micros(usage),
            now: Utc::now(),
        };
        match self.record(run, command, cause).await? {
            Recorded::Refused(RunError::Invalid(errors)) => {
                let error = format!("the model's answer was refused: {}", reasons(&errors));
                self.fail_model_call(run, generation, step, &error, cause)
                    .await
            }
            other => Ok(other),
        }
    }

    /// The request for model call `step` sending `messages`; `None` when the run names no
    /// model.
    async fn model_request(
        &self,
        run: &Run,
        messages: &[Message],
        step: u32,
    ) -> Result<Option<ModelRequest>, EngineError> {
        let Some(model) = run.model().cloned() else {
            return Ok(None);
        };
        let turn = run
            .steps()
            .iter()
            .filter(|s| s.number < step && s.model_call().is_some_and(|c| c.output.is_some()))
            .count();
        Ok(Some(ModelRequest {
            model,
            system_prompt: run.system_prompt().to_owned(),
            messages: messages.to_vec(),
            tools: self.tool_specs(run).await?,
            turn,
        }))
    }

    /// The run's tools the model may call.
    async fn tool_specs(&self, run: &Run) -> Result<Vec<ToolSpec>, EngineError> {
        let mut found = Vec::with_capacity(run.tool_ids().len());
        for id in run.tool_ids() {
            let (tool, _) = self.tools.load(&id.to_string()).await?;
            if tool.tenant_id() == run.tenant_id() {
                found.push(tool);
            }
        }
        Ok(tools::specs(&found))
    }

    /// The run's agent as it is now: its status (a missing agent counts as archived) and
    /// its metadata (which holds the approval policy).
    async fn agent(
        &self,
        run: &Run,
    ) -> Result<(AgentStatus, std::collections::BTreeMap<String, String>), EngineError> {
        let agent_id = run.agent_id().unwrap_or_default();
        let (agent, _) = self.agents.load(&agent_id.to_string()).await?;
        if agent.tenant_id() != run.tenant_id() {
            return Ok((AgentStatus::Archived, Default::default()));
        }
        let metadata = agent
            .config()
            .map(|c| c.metadata.clone())
            .unwrap_or_default();
        Ok((agent.status().unwrap_or(AgentStatus::Archived), metadata))
    }

    async fn fail_model_call(
        &self,
        run: &Run,
        generation: u32,
        step: u32,
        error: &str,
        cause: Cause,
    ) -> Result<Recorded, EngineError> {
        let command = RunCommand::FailModelCall {
            tenant_id: ids(run)?.1,
            lease_generation: generation,
            step,
            error: failure_message(error),
            now: Utc::now(),
        };
        self.record(run, command, cause).await
    }
}
