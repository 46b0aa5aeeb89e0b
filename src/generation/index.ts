/** Template rendering, the conversation schema and the generation providers. */
export { GeneratedConversation, parseConversation } from './conversation';
export { buildTemplateVariables, cacheablePrefix, MissingPlaceholderError, placeholdersOf, renderTemplate } from './render';
export {
  InvalidOutputError,
  isGenerationError,
  PermanentGenerationError,
  TransientGenerationError,
  type ConversationGenerator,
  type GenerationRequest,
} from './provider';
export { createOfflineGenerator, OFFLINE_MODEL, SYNTHETIC_MARKER } from './offline';
export { abortableSleep, abortError, isAbortError } from './sleep';
