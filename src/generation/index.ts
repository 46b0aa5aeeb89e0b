/** Template rendering, the conversation schema and the generation providers. */
export {
  ConversationMetadata,
  ConversationTurn,
  EmotionalContext,
  GeneratedConversation,
  type GeneratedConversationType,
  parseConversation,
  summariseIssues,
  type ParseConversationResult,
} from './conversation';
export {
  buildTemplateVariables,
  MissingPlaceholderError,
  placeholdersOf,
  renderTemplate,
  type TemplateContext,
  type TemplateValue,
} from './render';
export {
  GenerationError,
  InvalidOutputError,
  isGenerationError,
  PermanentGenerationError,
  TransientGenerationError,
  type ConversationGenerator,
  type GenerationErrorCode,
  type GenerationRequest,
  type GenerationResult,
} from './provider';
export {
  createOfflineGenerator,
  estimateTokens,
  OFFLINE_MODEL,
  SYNTHETIC_MARKER,
  synthesiseConversation,
  type OfflineGeneratorOptions,
} from './offline';
export { abortableSleep, abortError, isAbortError, type Sleep } from './sleep';
export { createAnthropicGenerator } from './anthropic';
export { createOpenAIGenerator } from './openai';
export { createPriceTable, estimateBatchCostUsd, type PriceTable } from './pricing';
export { failedAttemptOf, TruncatedOutputError } from './failed-attempt';
