import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { createGenerator } from '../../../src/generation/factory';
import {
  checkConversation,
  conversationJsonSchema,
  jsonShapeInstructions,
  readConversationText,
} from '../../../src/generation/structured-output';
import { standInConversation } from '../../helpers/stand-in-server';

describe('structured output', () => {
  it('the tool schema is the JSON Schema of GeneratedConversation, without $schema', () => {
    const schema = conversationJsonSchema();
    expect(schema).not.toHaveProperty('$schema');
    expect(schema).toMatchObject({ type: 'object', required: ['conversation_metadata', 'turns'] });
    expect(schema).toHaveProperty('properties.turns.minItems', 2);
    expect(schema).toHaveProperty('properties.turns.items.properties.role.enum', ['user', 'assistant']);
    expect(jsonShapeInstructions()).toContain(JSON.stringify(schema));
  });

  it('reads JSON text, with or without a Markdown fence', () => {
    const text = JSON.stringify(standInConversation(2));
    expect(readConversationText(text)).toEqual({ ok: true, value: standInConversation(2) });
    expect(readConversationText('```json\n' + text + '\n```')).toMatchObject({ ok: true });
  });

  it('tells text that is not JSON (parse_error) from JSON of the wrong shape (validation_error)', () => {
    expect(readConversationText('')).toMatchObject({ ok: false, failureType: 'parse_error', issues: '(root): the model returned no text' });
    expect(readConversationText('{"turns": [')).toMatchObject({ ok: false, failureType: 'parse_error' });
    expect(readConversationText('{"turns": []}')).toMatchObject({ ok: false, failureType: 'validation_error' });
    expect(checkConversation({ ...standInConversation(2), turns: [] })).toMatchObject({
      ok: false,
      failureType: 'validation_error',
      issues: 'turns: expected at least 2 items, got an array of 0',
    });
  });
});

describe('createGenerator', () => {
  it('builds the provider GENERATOR names', () => {
    expect(createGenerator(loadConfig({})).name).toBe('offline');
    expect(createGenerator(loadConfig({ GENERATOR: 'anthropic', ANTHROPIC_API_KEY: 'k' })).name).toBe('anthropic');
    expect(createGenerator(loadConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' })).name).toBe('openai');
  });

  it('rejects a bad ANTHROPIC_MAX_TOKENS or ANTHROPIC_TEMPERATURE at start-up', () => {
    expect(() => loadConfig({ ANTHROPIC_MAX_TOKENS: '0' })).toThrow(/ANTHROPIC_MAX_TOKENS: expected 1 or more tokens/);
    expect(() => loadConfig({ ANTHROPIC_MAX_TOKENS: '64000' })).toThrow(/ANTHROPIC_MAX_TOKENS: expected at most 21333/);
    expect(() => loadConfig({ ANTHROPIC_TEMPERATURE: '1.5' })).toThrow(/ANTHROPIC_TEMPERATURE: expected a temperature from 0 to 1/);
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ ANTHROPIC_MAX_TOKENS: 4096, GENERATOR_MAX_INVALID_ATTEMPTS: 3 });
    expect(defaults.ANTHROPIC_TEMPERATURE).toBeUndefined();
  });
});
