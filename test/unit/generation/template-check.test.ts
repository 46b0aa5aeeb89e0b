import { describe, expect, it } from 'vitest';
import { buildTemplateVariables } from '../../../src/generation';
import {
  checkTemplate,
  editDistance,
  nearestNames,
  TEMPLATE_VARIABLES,
  templateInvalid,
  templateVariables,
} from '../../../src/generation/template-check';
import { arc, persona, topic } from './fixtures';

const good = 'You are {{persona_name}} ({{ persona_archetype }}), talking about {{topic_name}} in {{turn_count_min}} turns.';

describe('TEMPLATE_VARIABLES', () => {
  it('is exactly what buildTemplateVariables supplies, in its order', () => {
    const supplied = Object.keys(buildTemplateVariables({ persona, arc, topic, tier: 'template' }));
    expect(TEMPLATE_VARIABLES.map((v) => v.name)).toEqual(supplied);
  });
});

describe('checkTemplate', () => {
  it('finds nothing wrong with a template that uses known variables, a tier and an existing arc', () => {
    expect(checkTemplate({ templateText: good, tier: 'scenario', emotionalArcType: 'fear_to_confidence' }, ['fear_to_confidence'])).toEqual(
      [],
    );
    expect(checkTemplate({ templateText: good, tier: 'template', emotionalArcType: null }, [])).toEqual([]);
  });

  it('names an unknown placeholder and the nearest known names', () => {
    const [problem, ...rest] = checkTemplate({ templateText: 'Hi {{persona_nam}} about {{topic_name}}', tier: 'template' }, []);
    expect(rest).toEqual([]);
    expect(problem).toEqual({
      field: 'templateText',
      value: 'persona_nam',
      message: 'unknown placeholder {{persona_nam}} (did you mean persona_name?)',
      nearest: ['persona_name'],
    });
  });

  it('offers no name when nothing is close, and lists every problem of the template', () => {
    const problems = checkTemplate(
      { templateText: '{{zzz}} {{ persona-name }} {{topik_name}}', tier: 'edge', emotionalArcType: 'fear_to_confidense' },
      ['fear_to_confidence', 'anger_to_calm'],
    );
    expect(problems.map((p) => [p.field, p.value, p.nearest])).toEqual([
      ['templateText', '{{ persona-name }}', undefined],
      ['templateText', 'zzz', []],
      ['templateText', 'topik_name', ['topic_name']],
      ['tier', 'edge', ['edge_case']],
      ['emotionalArcType', 'fear_to_confidense', ['fear_to_confidence']],
    ]);
    expect(problems[1]?.message).toBe('unknown placeholder {{zzz}}');
    expect(problems[3]?.message).toBe("unknown tier 'edge' (one of template, scenario, edge_case)");
    expect(problems[4]?.message).toBe("no emotional arc with arc_key 'fear_to_confidense' (did you mean fear_to_confidence?)");
  });

  it('TEMPLATE_INVALID is a 422 naming the template and every problem', () => {
    const problems = checkTemplate({ templateText: '{{persona_nam}}', tier: 'template' }, []);
    const err = templateInvalid(problems, 'greeting');
    expect(err.code).toBe('TEMPLATE_INVALID');
    expect(err.status).toBe(422);
    expect(err.message).toBe(
      "template 'greeting' is invalid: templateText: unknown placeholder {{persona_nam}} (did you mean persona_name?)",
    );
    expect(err.details).toEqual({ problems });
  });
});

describe('templateVariables', () => {
  it('derives the variables from the text, each once, in order', () => {
    expect(templateVariables(good + ' {{persona_name}}')).toEqual(['persona_name', 'persona_archetype', 'topic_name', 'turn_count_min']);
  });
});

describe('edit distance', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('tier', 'tier')).toBe(0);
  });

  it('orders the nearest names by distance, then name, up to max', () => {
    expect(nearestNames('topic_nme', ['topic_name', 'topic_category', 'tier'])).toEqual(['topic_name']);
    expect(nearestNames('turn_count', ['turn_count_min', 'turn_count_max', 'tier'], 2)).toEqual(['turn_count_max', 'turn_count_min']);
  });
});
