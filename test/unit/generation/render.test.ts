import { describe, expect, it } from 'vitest';
import { buildTemplateVariables, MissingPlaceholderError, placeholdersOf, renderTemplate } from '../../../src/generation';
import { cacheablePrefix } from '../../../src/generation/render';
import { arc, persona, topic } from './fixtures';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('placeholdersOf', () => {
  it('lists each name once, in order of first appearance, with or without inner spaces', () => {
    expect(placeholdersOf('{{ b }} then {{a}} then {{b}} and {{  topic.name\t}}')).toEqual(['b', 'a', 'topic.name']);
  });

  it('ignores text that is not a placeholder', () => {
    expect(placeholdersOf('{ single } {{ two words }} {{}} plain')).toEqual([]);
  });
});

describe('renderTemplate', () => {
  it('replaces every occurrence, including repeats, numbers and dotted names', () => {
    const out = renderTemplate('{{name}} ({{ age }}) likes {{topic.name}}; again {{ name }}.', {
      name: 'Ana',
      age: 41,
      'topic.name': 'saving',
    });
    expect(out).toBe('Ana (41) likes saving; again Ana.');
  });

  it('inserts values verbatim without rendering them again', () => {
    expect(renderTemplate('{{a}}', { a: '{{b}} costs $& $1', b: 'x' })).toBe('{{b}} costs $& $1');
  });

  it('names every placeholder without a value and renders nothing', () => {
    const error = thrown(() =>
      renderTemplate(
        '{{persona_age}} {{ok}} {{budget}} {{gone}} {{blank}} {{persona_age}}',
        {
          ok: 'yes',
          budget: null,
          gone: undefined,
          blank: '',
        },
        { templateName: 'fear_to_confidence__template' },
      ),
    );
    expect(error).toBeInstanceOf(MissingPlaceholderError);
    const missing = error as MissingPlaceholderError;
    expect(missing.placeholders).toEqual(['persona_age', 'budget', 'gone', 'blank']);
    expect(missing.templateName).toBe('fear_to_confidence__template');
    expect(missing.code).toBe('TEMPLATE_MISSING_PLACEHOLDER');
    expect(missing.message).toBe(
      "template 'fear_to_confidence__template' has no value for {{persona_age}}, {{budget}}, {{gone}}, {{blank}}",
    );
  });

  it('does not resolve inherited object properties', () => {
    const error = thrown(() => renderTemplate('{{constructor}} {{toString}}', {}));
    expect(error).toBeInstanceOf(MissingPlaceholderError);
    expect((error as MissingPlaceholderError).message).toBe('template has no value for {{constructor}}, {{toString}}');
  });
});

describe('buildTemplateVariables', () => {
  it('maps the rows to the seeded templates’ variable names, extra last', () => {
    const vars = buildTemplateVariables({ persona, arc, topic, tier: 'scenario', extra: { tier: 'override', budget: '500' } });
    expect(vars).toEqual({
      persona_name: 'Marcus Chen',
      persona_archetype: 'Anxious Planner',
      persona_description: persona.description,
      persona_communication_style: persona.communication_style,
      emotional_arc_name: 'Fear to Confidence',
      starting_emotion: 'fear',
      ending_emotion: 'confidence',
      turn_count_min: 4,
      turn_count_max: 9,
      topic_name: 'building an emergency fund',
      topic_category: 'savings',
      topic_description: 'How much to keep aside and where',
      tier: 'override',
      budget: '500',
    });
  });

  it('leaves null columns as missing, so the template error names them', () => {
    const vars = buildTemplateVariables({ persona: { ...persona, description: null }, arc, topic, tier: 'template' });
    expect(() => renderTemplate('{{persona_name}}: {{persona_description}}', vars)).toThrow(
      'template has no value for {{persona_description}}',
    );
  });
});

describe('cacheablePrefix', () => {
  const render = (text: string) => renderTemplate(text, { topic_name: 'savings', persona_name: 'Marcus' });

  it("is the template's text before its first placeholder, cut back to just after the last whitespace", () => {
    const text = 'You are a financial coach.\nWrite a conversation about {{topic_name}} with {{persona_name}}.';
    expect(cacheablePrefix(text, render(text))).toBe('You are a financial coach.\nWrite a conversation about ');
    const glued = 'You are a coach. Talk about:{{topic_name}}';
    expect(cacheablePrefix(glued, render(glued))).toBe('You are a coach. Talk ');
    expect(render(glued).startsWith(cacheablePrefix(glued, render(glued)))).toBe(true);
  });

  it("is '' when the template starts with a placeholder or has no whitespace before it", () => {
    expect(cacheablePrefix('{{persona_name}} asks about {{topic_name}}', 'Marcus asks about savings')).toBe('');
    expect(cacheablePrefix('About:{{topic_name}}', 'About:savings')).toBe('');
  });

  it("is '' when the rendered prompt does not start with it (another template's rendering)", () => {
    expect(cacheablePrefix('Talk about {{topic_name}}', 'Speak of savings')).toBe('');
  });

  it('leaves the last word of a template without placeholders, so the rest is never empty', () => {
    expect(cacheablePrefix('Write any conversation.', 'Write any conversation.')).toBe('Write any ');
    expect(cacheablePrefix('Static ', 'Static ')).toBe('');
  });
});
