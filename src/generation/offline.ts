import type { Tier } from '../domain/enums';
import { MAX_CONVERSATION_TURNS } from '../domain/limits';
import { GeneratedConversation, parseConversation, type ConversationTurn } from './conversation';
import { estimateTokens } from './pricing';
import { fnv1a32, randomInt, seededRandom, unitFromString, type Random } from './prng';
import {
  PermanentGenerationError,
  TransientGenerationError,
  type ConversationGenerator,
  type GenerationRequest,
  type GenerationResult,
} from './provider';
import type { EmotionalArcRow, PersonaRow, TopicRow } from '../domain/rows';
import { abortableSleep, abortError, type Sleep } from './sleep';

/** The model name recorded for offline conversations. */
export const OFFLINE_MODEL = 'offline-synthetic-v1';
/** Opens every offline `session_context`, so synthetic rows are recognisable in the data. */
export const SYNTHETIC_MARKER = '[synthetic offline sample]';

/** Options of {@link createOfflineGenerator} (from `GENERATOR_LATENCY_MS` and `GENERATOR_FAILURE_RATE`). */
export interface OfflineGeneratorOptions {
  /** Mean simulated latency; each attempt waits uniformly 0.5x to 1.5x this. 0 for none. */
  latencyMs: number;
  /** Share of attempts, 0 to 1, that fail with a TransientGenerationError. */
  failureRate: number;
  /** Replaces the real timer, e.g. in tests. */
  sleep?: Sleep;
}

/**
 * The `offline` provider: deterministic synthetic conversations seeded by the item id, with
 * optional simulated latency and transient failures for demos, benchmarks and fault tests.
 * The same item id always yields the same conversation; failures depend on (item id, attempt),
 * so retries of a failed attempt eventually succeed unless `failureRate` is 1.
 *
 * @throws RangeError when `latencyMs` is negative or `failureRate` is outside 0..1.
 */
export function createOfflineGenerator(options: OfflineGeneratorOptions): ConversationGenerator {
  const { latencyMs, failureRate, sleep = abortableSleep } = options;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new RangeError(`offline generator latencyMs must be 0 or more, got ${latencyMs}`);
  }
  if (!(failureRate >= 0 && failureRate <= 1)) {
    throw new RangeError(`offline generator failureRate must be from 0 to 1, got ${failureRate}`);
  }

  return {
    name: 'offline',
    async generate(req: GenerationRequest): Promise<GenerationResult> {
      if (req.signal.aborted) throw abortError(req.signal, 'offline generation');
      if (latencyMs > 0) {
        const jitter = 0.5 + unitFromString(`${req.itemId}:${req.attempt}:latency`);
        await sleep(Math.round(latencyMs * jitter), req.signal);
        // An injected sleep may ignore the signal; never return work for a cancelled activity.
        if (req.signal.aborted) throw abortError(req.signal, 'offline generation');
      }
      if (unitFromString(`${req.itemId}:${req.attempt}:failure`) < failureRate) {
        throw new TransientGenerationError(`simulated transient failure (GENERATOR_FAILURE_RATE=${failureRate})`);
      }

      const draft = synthesiseConversation(req);
      const parsed = parseConversation(draft);
      // The same rows give the same draft every time, so a retry could not help: the rows are bad.
      if (!parsed.ok) {
        throw new PermanentGenerationError(
          `offline conversation for arc '${req.arc.arc_key}' and topic '${req.topic.topic_key}' is invalid: ${parsed.issues}`,
        );
      }
      const conversation = parsed.value;
      return {
        conversation,
        model: OFFLINE_MODEL,
        generator: 'offline',
        isSynthetic: true,
        inputTokens: estimateTokens(req.prompt),
        // What a model would have emitted is the JSON document, so that is what is counted.
        outputTokens: estimateTokens(JSON.stringify(conversation)),
        cacheCreationInputTokens: 0,
        cacheReadInputTokens: 0,
        costUsd: 0,
      };
    },
  };
}

interface Synthesis {
  itemId: string;
  persona: PersonaRow;
  arc: EmotionalArcRow;
  topic: TopicRow;
  tier: Tier;
}

/**
 * Builds the conversation for one item from its scaffolding rows alone; every choice comes from
 * a PRNG seeded by the item id.
 */
function synthesiseConversation({ itemId, persona, arc, topic, tier }: Synthesis): GeneratedConversation {
  const random = seededRandom(`${itemId}:conversation`);
  const turnCount = chooseTurnCount(random, arc);
  const start = arc.starting_emotion;
  const end = arc.ending_emotion;
  const startIntensity = round2(0.65 + 0.3 * random());
  const lowIntensity = round2(0.3 + 0.15 * random());
  const endIntensity = round2(0.55 + 0.35 * random());

  const lines = linePools({ persona, topic: topic.name, start, end, tier }, random);
  const turns: ConversationTurn[] = [];
  for (let index = 0; index < turnCount; index++) {
    const progress = index / (turnCount - 1);
    const stillStarting = progress <= 0.5;
    const primary = stillStarting ? start : end;
    const secondary = stillStarting ? end : start;
    const intensity = stillStarting
      ? startIntensity + (lowIntensity - startIntensity) * (progress / 0.5)
      : lowIntensity + (endIntensity - lowIntensity) * ((progress - 0.5) / 0.5);
    const role = index % 2 === 0 ? 'user' : 'assistant';
    const isLast = index === turnCount - 1;
    const content =
      role === 'user'
        ? index === 0
          ? lines.opening()
          : isLast || index === turnCount - 2
            ? lines.userClosing()
            : stillStarting
              ? lines.userStruggling()
              : lines.userProgressing()
        : isLast
          ? lines.assistantClosing()
          : stillStarting
            ? lines.assistantSupporting()
            : lines.assistantReinforcing();
    turns.push({
      turn_number: index + 1,
      role,
      content,
      emotional_context: {
        primary_emotion: primary,
        // Only the turns in transition carry the other emotion of the arc.
        ...(progress > 0 && progress < 1 && secondary !== primary ? { secondary_emotion: secondary } : {}),
        intensity: clamp01(round2(intensity)),
      },
    });
  }

  const seedTag = fnv1a32(itemId).toString(16).padStart(8, '0');
  return {
    conversation_metadata: {
      client_persona: persona.description
        ? `${persona.name}, ${persona.archetype}: ${persona.description}`
        : `${persona.name}, ${persona.archetype}`,
      session_context:
        `${SYNTHETIC_MARKER} ${tier} conversation about ${topic.name} (${topic.category}), ` +
        `written offline without a model; seed ${seedTag}`,
      conversation_phase: `${arc.name}: ${start} to ${end}`,
      expected_outcome: `${persona.name} moves from ${start} to ${end} about ${topic.name}`,
    },
    turns,
  };
}

function chooseTurnCount(random: Random, arc: EmotionalArcRow): number {
  // The schema needs two turns at least, and a row with min > max should not break a batch.
  const low = Math.max(2, Math.floor(Math.min(arc.typical_turn_count_min, arc.typical_turn_count_max)));
  const high = Math.max(low, Math.floor(Math.max(arc.typical_turn_count_min, arc.typical_turn_count_max)));
  // A row written before arcs were bounded by the validator may ask for more than a conversation may have.
  return randomInt(random, Math.min(low, MAX_CONVERSATION_TURNS), Math.min(high, MAX_CONVERSATION_TURNS));
}

interface LineContext {
  persona: PersonaRow;
  topic: string;
  start: string;
  end: string;
  tier: Tier;
}

/**
 * One drawer per kind of line. Each draws without repeating until its pool is used up, so a
 * long conversation does not say the same sentence twice in a row.
 */
function linePools({ persona, topic, start, end, tier }: LineContext, random: Random) {
  const twist: [string, ...string[]] =
    tier === 'edge_case'
      ? [
          ' My situation is not the usual one, so the standard advice may not fit.',
          ' Some of what I have been told about it contradicts itself.',
        ]
      : tier === 'scenario'
        ? [' Something specific happened this week that brought it up.', ' A decision about it is due soon.']
        : [''];
  const opening = deck(random, [
    `I need to talk about ${topic}. Right now the main thing I feel is ${start}.`,
    `Honestly, ${topic} has been weighing on me, and it comes out as ${start}.`,
    `Can we go through ${topic}? I keep running into ${start} whenever I think about it.`,
    `I've put off dealing with ${topic} for a while. There's a lot of ${start} there.`,
  ]);
  const twists = deck(random, twist);
  return {
    opening: () => opening() + twists(),
    userStruggling: deck(random, [
      `That helps a little, but the ${start} comes back when I picture actually doing it.`,
      `What would a first step on ${topic} look like for someone like me?`,
      `Part of me wants to deal with ${topic}, part of me doesn't. Is that normal?`,
      `Can you say that again more simply? I want to be sure I've got it.`,
      `Every time I start on ${topic}, the ${start} gets in the way.`,
    ]),
    userProgressing: deck(random, [
      `I hadn't looked at ${topic} that way. There's some ${end} in me now, which is new.`,
      `Okay, that step feels doable. What comes after it?`,
      `Writing it down like that makes ${topic} feel smaller than it did.`,
      `I think I could start this week. Saying it out loud helps.`,
    ]),
    userClosing: deck(random, [
      `Thank you. Thinking about ${topic} now, what I feel is closer to ${end}.`,
      `This was useful. I think I can handle ${topic} from here; the word for how I feel is ${end}.`,
      `I have a plan for ${topic} now. That's a relief, and I'd call the feeling ${end}.`,
    ]),
    assistantSupporting: deck(random, [
      `It makes sense that ${topic} brings up ${start}; many people feel that way. Could we pick the one part of it that matters most this month?`,
      `Thank you for saying that plainly, ${persona.name}. Feeling ${start} here is a reasonable response. What would "good enough" look like for you?`,
      `Let's slow down. Noticing the ${start} is already a useful step. Let's write down what you already know about ${topic} before adding anything new.`,
      `You don't have to solve all of ${topic} today. One small, concrete step is often enough to change how it feels.`,
    ]),
    assistantReinforcing: deck(random, [
      `That's real progress. You moved from "I can't" to a concrete step on ${topic}.`,
      `Exactly. Notice how much clearer ${topic} looks once it's broken into pieces.`,
      `Good. Let's make the next step specific: what, and by when?`,
    ]),
    assistantClosing: deck(random, [
      `You've done real work on ${topic} today, ${persona.name}. Come back to the plan whenever you need it.`,
      `That's a solid place to land. Take the first step on ${topic} this week and notice how it feels.`,
      `I'm glad this helped. You know more about ${topic} than you gave yourself credit for.`,
    ]),
  };
}

/** Draws from `items` in a seeded shuffled order, reshuffling once every item has been used. */
function deck(random: Random, items: readonly [string, ...string[]]): () => string {
  let remaining: string[] = [];
  return () => {
    if (remaining.length === 0) remaining = [...items];
    const [drawn] = remaining.splice(Math.floor(random() * remaining.length), 1);
    return drawn ?? items[0];
  };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}
