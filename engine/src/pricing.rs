//! What a model call costs, and the most it could cost, in micro-units of the current
//! price book's LLM token prices.

use domain::billing::{Meter, PriceBook};
use domain::run::{MAX_BUDGET_MICROS, ModelUsage};

use crate::provider::{ModelRequest, estimate_input_tokens};

/// What `usage` costs.
pub fn cost_micros(usage: ModelUsage) -> i64 {
    let book = PriceBook::current();
    charge(&book, Meter::LlmInputTokens, usage.input_tokens)
        .saturating_add(charge(&book, Meter::LlmOutputTokens, usage.output_tokens))
        .min(MAX_BUDGET_MICROS)
}

/// The most `request` could cost: its estimated input and every output token it allows.
pub fn estimate_micros(request: &ModelRequest) -> i64 {
    cost_micros(ModelUsage {
        input_tokens: estimate_input_tokens(request),
        output_tokens: u64::from(request.model.max_output_tokens),
    })
}

fn charge(book: &PriceBook, meter: Meter, units: u64) -> i64 {
    let units = i64::try_from(units).unwrap_or(i64::MAX);
    units.saturating_mul(book.price_of(meter).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use domain::agent::ModelConfig;

    use super::*;

    #[test]
    fn charges_input_and_output_tokens_at_the_current_prices() {
        let usage = ModelUsage {
            input_tokens: 1_000,
            output_tokens: 100,
        };
        assert_eq!(cost_micros(usage), 1_000 * 3 + 100 * 15);
    }

    #[test]
    fn estimates_with_every_output_token_the_model_may_generate() {
        let request = ModelRequest {
            model: ModelConfig {
                provider: "scripted".into(),
                name: "demo".into(),
                temperature: 0.0,
                max_output_tokens: 200,
            },
            system_prompt: "abcd".into(),
            messages: Vec::new(),
            tools: Vec::new(),
            turn: 0,
        };
        assert_eq!(estimate_micros(&request), 3 + 200 * 15);
    }

    #[test]
    fn never_goes_past_the_largest_budget() {
        let usage = ModelUsage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
        };
        assert_eq!(cost_micros(usage), MAX_BUDGET_MICROS);
    }
}
