-- Seed scaffolding for the product's domain: emotionally grounded training conversations for a
-- financial guidance assistant (education and planning help, not individual investment advice).
--
-- Idempotent: every insert is ON CONFLICT (natural key) DO NOTHING, so a re-run adds what is
-- missing and never overwrites a row someone has since edited.
--
-- Templates: exactly one active template per (arc, tier), named <arc_key>__<tier>. Their text may
-- use only these placeholders: {{persona_name}} {{persona_archetype}} {{persona_description}}
-- {{persona_communication_style}} {{emotional_arc_name}} {{starting_emotion}} {{ending_emotion}}
-- {{turn_count_min}} {{turn_count_max}} {{topic_name}} {{topic_category}} {{topic_description}}
-- {{tier}}. `variables` is derived from the text below (so it cannot drift from it), and a check at
-- the end of this file fails the migration if a seeded template uses any other placeholder.

-- Personas ------------------------------------------------------------------------------------------

insert into public.personas (persona_key, name, archetype, description, communication_style, demographics)
values
  ('anxious_first_time_investor', 'Priya Natarajan', 'The Anxious Beginner',
   'A 29-year-old nurse with $8,000 in savings who has never invested. She has read alarming headlines about crashes, worries about losing money she worked hard for, and fears looking foolish for not knowing the basics.',
   'Asks many small clarifying questions, apologises for "silly" questions, uses hedging language ("I think", "maybe"), and seeks reassurance before each step.',
   '{"age_range": "25-34", "life_stage": "early career", "household": "single, renting", "income_band": "$60k-$75k", "experience": "none"}'),
  ('skeptical_small_business_owner', 'Marcus Bell', 'The Skeptical Pragmatist',
   'A 47-year-old owner of a two-location auto repair shop. He was burned by a commission-driven advisor years ago, distrusts anything that sounds like a sales pitch, and wants numbers, not feelings.',
   'Blunt and terse; challenges claims, asks "what''s the catch?", wants concrete figures and trade-offs, and warms up only when answers are straight.',
   '{"age_range": "45-54", "life_stage": "mid career, self-employed", "household": "married, two teenagers", "income_band": "$120k-$160k (variable)", "experience": "some, mostly negative"}'),
  ('overwhelmed_young_professional', 'Jordan Alvarez', 'The Overwhelmed Avoider',
   'A 26-year-old marketing coordinator with $31,000 in student loans and $6,500 of credit card debt spread over three cards. Avoids opening statements and feels behind compared with friends.',
   'Long, rambling messages that jump between worries; self-deprecating humour; goes quiet or changes the subject when a topic feels too big.',
   '{"age_range": "25-34", "life_stage": "early career", "household": "shares an apartment", "income_band": "$50k-$60k", "experience": "minimal"}'),
  ('late_start_pre_retiree', 'Linda Okafor', 'The Late Starter',
   'A 58-year-old school administrator who spent her forties supporting her parents and only recently started saving seriously. She has $140,000 in a 403(b) and worries it is too late to retire with dignity.',
   'Polite and methodical; takes notes, repeats numbers back to confirm them, and occasionally lets regret or worry show through otherwise composed questions.',
   '{"age_range": "55-64", "life_stage": "pre-retirement", "household": "divorced, one adult child", "income_band": "$85k-$100k", "experience": "moderate"}')
on conflict (persona_key) do nothing;

-- Emotional arcs --------------------------------------------------------------------------------------

insert into public.emotional_arcs (arc_key, name, description, starting_emotion, ending_emotion,
                                   typical_turn_count_min, typical_turn_count_max, conversation_category)
values
  ('confusion_to_clarity', 'Confusion to Clarity',
   'The user is lost in jargon or conflicting advice; patient, plain-language explanation and a worked example leave them able to explain the idea back.',
   'confusion', 'clarity', 4, 8, 'core'),
  ('fear_to_confidence', 'Fear to Confidence',
   'The user is afraid of making an irreversible mistake; the assistant validates the fear, sizes the real risk, and helps them choose a small, safe first step.',
   'fear', 'confidence', 4, 10, 'core'),
  ('frustration_to_relief', 'Frustration to Relief',
   'The user is frustrated by a confusing bill, fee or process; the assistant untangles it and gives a concrete fix, and the tension drains away.',
   'frustration', 'relief', 3, 8, 'core'),
  ('overwhelm_to_empowerment', 'Overwhelm to Empowerment',
   'The user faces too many money problems at once; the assistant helps them prioritise and leaves them owning a short, ordered plan.',
   'overwhelm', 'empowerment', 5, 12, 'core'),
  ('skepticism_to_trust', 'Skepticism to Trust',
   'The user doubts the assistant''s motives and advice; transparency about trade-offs, limits and costs earns cautious trust.',
   'skepticism', 'trust', 4, 10, 'core'),
  ('crisis_to_referral', 'Crisis to Referral',
   'The user is in acute financial distress (eviction notice, collections, hopeless language). The assistant stays calm, addresses immediate safety and needs, and connects them with human help such as a nonprofit credit counsellor or crisis line, without overpromising.',
   'distress', 'supported', 4, 10, 'edge'),
  ('anger_to_boundary', 'Anger to Boundary',
   'The user is angry and demands something the assistant must not give (a guaranteed return, a specific stock pick, help hiding income). The assistant stays respectful, holds the boundary, and offers what it can do.',
   'anger', 'grudging acceptance', 3, 8, 'edge'),
  ('grief_to_acceptance', 'Grief to Acceptance',
   'The user is handling money after a death or divorce. The assistant moves at the user''s pace, separates urgent from later decisions, and helps them accept that it is fine to go slowly.',
   'grief', 'acceptance', 6, 14, 'edge')
on conflict (arc_key) do nothing;

-- Training topics -------------------------------------------------------------------------------------

insert into public.training_topics (topic_key, name, category, description)
values
  ('emergency_fund_basics', 'Building an emergency fund', 'budgeting',
   'How much to keep for emergencies, where to hold it (high-yield savings), and how to build it gradually on a tight budget.'),
  ('monthly_budget_setup', 'Setting up a monthly budget', 'budgeting',
   'Tracking income and spending, choosing a method such as 50/30/20 or zero-based budgeting, and sticking to it.'),
  ('index_funds_vs_stock_picking', 'Index funds versus picking stocks', 'investing',
   'Diversification, fees, and why most individual investors are better served by low-cost broad-market index funds.'),
  ('market_downturn_reaction', 'Staying calm in a market downturn', 'investing',
   'What a market drop means for a long-term investor, the cost of selling in a panic, and rebalancing.'),
  ('employer_401k_match', 'Getting the full 401(k) employer match', 'retirement',
   'How employer matching works, vesting schedules, and why contributing at least enough for the full match usually comes first.'),
  ('roth_vs_traditional_ira', 'Roth versus traditional IRA', 'retirement',
   'Tax now versus tax later, income limits, and how to choose based on current and expected future tax brackets.'),
  ('catch_up_contributions', 'Catch-up contributions after 50', 'retirement',
   'The extra amounts people aged 50 and over may contribute to 401(k)s and IRAs, and how to fit them into a budget.'),
  ('social_security_timing', 'When to claim Social Security', 'retirement',
   'Claiming at 62, full retirement age or 70, how benefits change, and spousal considerations.'),
  ('paying_off_credit_card_debt', 'Paying off credit card debt', 'debt',
   'Avalanche versus snowball methods, balance transfers, and talking to card issuers about hardship programmes.'),
  ('student_loan_repayment_options', 'Student loan repayment options', 'debt',
   'Standard, income-driven and refinancing options, the trade-offs of each, and staying out of default.'),
  ('first_home_down_payment', 'Saving for a first home down payment', 'housing',
   'How much to save, PMI, first-time buyer programmes, and balancing a down payment with other goals.'),
  ('mortgage_refinancing', 'Deciding whether to refinance a mortgage', 'housing',
   'Break-even on closing costs, rate versus term, and cash-out refinancing risks.'),
  ('term_vs_whole_life_insurance', 'Term versus whole life insurance', 'insurance',
   'How much coverage a family needs, what each type costs, and why sales pitches for permanent policies deserve scrutiny.'),
  ('saving_for_college_529', 'Saving for college with a 529 plan', 'family',
   'How 529 plans work, state tax benefits, and balancing college savings against retirement.'),
  ('small_business_cash_flow', 'Managing small business cash flow', 'small_business',
   'Separating business and personal money, cash reserves for slow months, and paying yourself a steady salary.'),
  ('self_employed_retirement_accounts', 'Retirement accounts for the self-employed', 'small_business',
   'SEP IRA, Solo 401(k) and SIMPLE IRA compared: contribution limits, paperwork and flexibility.'),
  ('estimated_quarterly_taxes', 'Paying estimated quarterly taxes', 'taxes',
   'Who must pay quarterly estimates, how to calculate them, safe-harbour rules and avoiding penalties.'),
  ('dealing_with_an_inheritance', 'Handling an unexpected inheritance', 'estate',
   'Pausing before big decisions, taxes on inherited accounts, and fitting a windfall into existing goals.'),
  ('beneficiary_designations_and_wills', 'Beneficiary designations and wills', 'estate',
   'Why beneficiary forms override a will, keeping them current after life changes, and when to see an estate attorney.'),
  ('recognizing_investment_scams', 'Recognising investment scams', 'consumer_protection',
   'Red flags such as guaranteed returns, pressure to act fast and unregistered sellers, and how to verify and report them.')
on conflict (topic_key) do nothing;

-- Prompt templates ------------------------------------------------------------------------------------

insert into public.prompt_templates (template_name, template_text, tier, emotional_arc_type, rating, variables,
                                     description, is_active)
select t.template_name,
       t.template_text,
       t.tier,
       t.arc_key,
       t.rating,
       coalesce((select jsonb_agg(v.name order by v.first_seen)
                 from (select m[1] as name, min(o) as first_seen
                       from regexp_matches(t.template_text, '\{\{([a-z_]+)\}\}', 'g') with ordinality x(m, o)
                       group by m[1]) v), '[]'::jsonb),
       t.description,
       true
from (values
  -- confusion_to_clarity ---------------------------------------------------------------------------
  ('confusion_to_clarity__template', 'confusion_to_clarity', 'template', 4.60,
   'Standard confusion-to-clarity conversation.',
   $t$Write a realistic conversation between {{persona_name}} ({{persona_archetype}}) and a financial guidance assistant about {{topic_name}}: {{topic_description}} The user opens in {{starting_emotion}}, tangled in jargon and conflicting advice; the assistant explains one idea at a time in plain language, checks understanding, and uses a small worked example, until the user reaches {{ending_emotion}} and can restate the idea in their own words. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, alternating user and assistant, user first. The user writes like this: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('confusion_to_clarity__scenario', 'confusion_to_clarity', 'scenario', 4.30,
   'Confusion-to-clarity conversation grounded in a specific situation from the persona''s life.',
   $t$Write a conversation set in a concrete moment from this person's life: {{persona_description}} {{persona_name}} has just run into {{topic_name}} ({{topic_category}}) for real, for example a form to fill in or a decision due this week, and is in {{starting_emotion}}. The financial guidance assistant asks what they are looking at, explains the relevant terms using the user's own numbers, and walks through the decision step by step, ending in {{ending_emotion}}. Keep to the {{emotional_arc_name}} arc, {{turn_count_min}}-{{turn_count_max}} turns, user first, written in the persona's voice: {{persona_communication_style}} Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('confusion_to_clarity__edge_case', 'confusion_to_clarity', 'edge_case', 3.80,
   'Confusion-to-clarity under difficult conditions: misinformation and misunderstanding.',
   $t$Write a difficult ({{tier}}) conversation about {{topic_name}} in which {{persona_name}}, {{persona_archetype}}, arrives in {{starting_emotion}}, holding a confident misconception picked up from social media. The financial guidance assistant must correct it without condescension, notice when an explanation did not land and try a different angle, and admit honestly where the answer depends on details it does not have. The conversation still reaches {{ending_emotion}}, following the {{emotional_arc_name}} arc in {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- fear_to_confidence --------------------------------------------------------------------------------
  ('fear_to_confidence__template', 'fear_to_confidence', 'template', 4.70,
   'Standard fear-to-confidence conversation.',
   $t$Write a realistic conversation between {{persona_name}} ({{persona_archetype}}) and a financial guidance assistant about {{topic_name}}: {{topic_description}} The user begins in {{starting_emotion}}, afraid of making a costly, irreversible mistake. The assistant acknowledges the fear without dismissing it, puts the actual risk in proportion with simple numbers, and helps the user pick one small, reversible first step, so the user ends with {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}} to {{turn_count_max}} turns, alternating, user first; the user's style: {{persona_communication_style}} Never promise returns. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('fear_to_confidence__scenario', 'fear_to_confidence', 'scenario', 4.40,
   'Fear-to-confidence conversation triggered by a specific event.',
   $t$Write a conversation triggered by a specific event: a scary headline, a letter or a sudden expense connected to {{topic_name}} ({{topic_category}}). The user, {{persona_name}}, is described as: {{persona_description}} They open in {{starting_emotion}} and want to act immediately. The financial guidance assistant slows things down, asks two or three questions to understand their situation, explains what is and is not at stake, and agrees a concrete plan with them, leaving them with {{ending_emotion}}. Follow the {{emotional_arc_name}} arc, {{turn_count_min}}-{{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('fear_to_confidence__edge_case', 'fear_to_confidence', 'edge_case', 3.90,
   'Fear-to-confidence where the fear is partly justified.',
   $t$Write a hard ({{tier}}) conversation about {{topic_name}} where the fear of {{persona_name}} ({{persona_archetype}}) is partly justified: they have already made a real mistake and start in {{starting_emotion}}, mixed with shame. The financial guidance assistant must not falsely reassure; it names the actual damage honestly, separates what can still be fixed from what cannot, and builds {{ending_emotion}} from a realistic recovery plan rather than from comfort. Use the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first, in this voice: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- frustration_to_relief -----------------------------------------------------------------------------
  ('frustration_to_relief__template', 'frustration_to_relief', 'template', 4.50,
   'Standard frustration-to-relief conversation.',
   $t$Write a realistic conversation between {{persona_name}} ({{persona_archetype}}) and a financial guidance assistant about {{topic_name}}: {{topic_description}} The user starts in {{starting_emotion}} after going round in circles with a confusing process, fee or statement. The assistant acknowledges the hassle briefly, then gets practical: it pinpoints what is actually going on and gives clear, ordered steps to resolve it, so the user ends in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, alternating, user first, in the user's own style: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('frustration_to_relief__scenario', 'frustration_to_relief', 'scenario', 4.20,
   'Frustration-to-relief conversation about a specific paperwork or billing problem.',
   $t$Write a conversation about a specific snag with {{topic_name}} ({{topic_category}}), such as a rejected form, a surprise fee or a payment applied to the wrong account. Context on the user, {{persona_name}}: {{persona_description}} They start in {{starting_emotion}} and have already spent an hour on it. The financial guidance assistant works out the cause from the details the user gives, drafts exactly what to say or submit, and says what to expect next, and the user ends in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}}-{{turn_count_max}} turns, user first, voice: {{persona_communication_style}} Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('frustration_to_relief__edge_case', 'frustration_to_relief', 'edge_case', 3.70,
   'Frustration-to-relief when the problem cannot be fully fixed.',
   $t$Write a difficult ({{tier}}) conversation about {{topic_name}} in which the problem frustrating {{persona_name}} ({{persona_archetype}}) cannot be fully fixed: a deadline has passed or a fee is legitimately owed. The user starts in {{starting_emotion}} and vents at the assistant. The financial guidance assistant stays steady, does not blame, is honest about what cannot change, and finds the partial remedies that do exist, so the user reaches {{ending_emotion}} through a clear path forward. Follow the {{emotional_arc_name}} arc, {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- overwhelm_to_empowerment --------------------------------------------------------------------------
  ('overwhelm_to_empowerment__template', 'overwhelm_to_empowerment', 'template', 4.80,
   'Standard overwhelm-to-empowerment conversation.',
   $t$Write a realistic conversation between {{persona_name}} ({{persona_archetype}}) and a financial guidance assistant that starts from {{topic_name}} ({{topic_description}}) but where several money worries at once have left the user in {{starting_emotion}}. The assistant helps them list what is on their mind, sorts it into "this week", "this month" and "later", and turns the first item into one concrete action the user chooses themselves, so the user ends with {{ending_emotion}}. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first, user's style: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('overwhelm_to_empowerment__scenario', 'overwhelm_to_empowerment', 'scenario', 4.50,
   'Overwhelm-to-empowerment conversation after a life change.',
   $t$Write a conversation set just after a life change (a new job, a move, a baby, a layoff) that has made {{topic_name}} ({{topic_category}}) urgent for {{persona_name}}: {{persona_description}} The user opens in {{starting_emotion}}, with a long message that jumps between problems. The financial guidance assistant reflects the key worries back, helps rank them by deadline and cost of waiting, and co-writes a short, numbered plan the user can start today, ending in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}}-{{turn_count_max}} turns, user first, voice: {{persona_communication_style}} Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('overwhelm_to_empowerment__edge_case', 'overwhelm_to_empowerment', 'edge_case', 3.90,
   'Overwhelm-to-empowerment with a user who keeps disengaging.',
   $t$Write a hard ({{tier}}) conversation about {{topic_name}} with {{persona_name}} ({{persona_archetype}}), who starts in {{starting_emotion}} and repeatedly tries to give up ("never mind, it's hopeless") or changes the subject. The financial guidance assistant must not lecture or pile on more information; it shrinks each step until it feels doable, celebrates small progress, and accepts a partial plan. End in {{ending_emotion}} even if only the first step is agreed. Follow the {{emotional_arc_name}} arc, {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- skepticism_to_trust -------------------------------------------------------------------------------
  ('skepticism_to_trust__template', 'skepticism_to_trust', 'template', 4.40,
   'Standard skepticism-to-trust conversation.',
   $t$Write a realistic conversation between {{persona_name}} ({{persona_archetype}}) and a financial guidance assistant about {{topic_name}}: {{topic_description}} The user starts in {{starting_emotion}}, suspecting a sales pitch or a hidden agenda. The assistant earns trust by being transparent: it states that it sells nothing, lays out the trade-offs and costs of each option including the ones it would not recommend, and says plainly what it does not know, until the user shows cautious {{ending_emotion}}. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first, user's style: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('skepticism_to_trust__scenario', 'skepticism_to_trust', 'scenario', 4.10,
   'Skepticism-to-trust conversation where the user tests the assistant with a real offer.',
   $t$Write a conversation in which {{persona_name}} tests the financial guidance assistant with a real offer they received related to {{topic_name}} ({{topic_category}}), such as a product a salesperson pushed on them. About the user: {{persona_description}} They begin in {{starting_emotion}} and ask pointed questions. The assistant explains how the offer makes money for the seller, compares it with simpler alternatives using numbers, and shows how to verify every claim independently, earning {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}}-{{turn_count_max}} turns, user first, voice: {{persona_communication_style}} Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('skepticism_to_trust__edge_case', 'skepticism_to_trust', 'edge_case', 3.60,
   'Skepticism-to-trust where the user''s suspicion is correct about the limits.',
   $t$Write a difficult ({{tier}}) conversation about {{topic_name}} where {{persona_name}} ({{persona_archetype}}) starts in {{starting_emotion}} and catches the assistant in an over-simplification. The financial guidance assistant must acknowledge the error directly, correct it, and be explicit about the limits of general guidance and when a fee-only fiduciary or tax professional is worth paying for. Trust is earned through that honesty, reaching {{ending_emotion}}. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- crisis_to_referral (edge arc) ---------------------------------------------------------------------
  ('crisis_to_referral__template', 'crisis_to_referral', 'template', 4.20,
   'Crisis-to-referral: acute distress handled safely and handed to human help.',
   $t$Write a conversation in which {{persona_name}} ({{persona_archetype}}) contacts a financial guidance assistant in acute {{starting_emotion}} about {{topic_name}}, for example after a final notice or a collections call, using hopeless language. The assistant responds calmly, checks the user is safe, addresses the most urgent practical need first, and clearly refers them to human help (a nonprofit credit counsellor, legal aid or, if they mention harming themselves, a crisis line such as 988 in the US), without promising outcomes. The user ends the conversation {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}} to {{turn_count_max}} turns, user first, style: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('crisis_to_referral__scenario', 'crisis_to_referral', 'scenario', 4.00,
   'Crisis-to-referral in a specific emergency.',
   $t$Write a conversation set during a specific financial emergency linked to {{topic_name}} ({{topic_category}}): rent due in three days, a frozen account or wage garnishment. The user, {{persona_name}}, is: {{persona_description}} They start in {{starting_emotion}}. The financial guidance assistant triages: what must happen in the next 72 hours, which calls to make and what to say, which free services can help (a HUD-approved housing counsellor, an NFCC credit counsellor, legal aid), and it checks in on how the user is coping. End with the user {{ending_emotion}} and holding a referral. Follow the {{emotional_arc_name}} arc, {{turn_count_min}}-{{turn_count_max}} turns, user first. Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('crisis_to_referral__edge_case', 'crisis_to_referral', 'edge_case', 3.50,
   'Crisis-to-referral where the user resists the referral.',
   $t$Write a hard ({{tier}}) conversation about {{topic_name}} in which {{persona_name}} ({{persona_archetype}}) is in {{starting_emotion}} and refuses the first referral ("I've called them, they don't help") while hinting at feeling like a burden. The financial guidance assistant must take the hint seriously, gently ask directly about safety, share crisis resources (988 in the US) without ending the conversation, and offer an alternative human resource for the money problem. Do not resolve everything; end with the user {{ending_emotion}} and agreeing to one call. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- anger_to_boundary (edge arc) ----------------------------------------------------------------------
  ('anger_to_boundary__template', 'anger_to_boundary', 'template', 4.10,
   'Anger-to-boundary: a respectful refusal that still helps.',
   $t$Write a conversation in which {{persona_name}} ({{persona_archetype}}) arrives in {{starting_emotion}} about {{topic_name}} and demands something a financial guidance assistant must not provide, such as a guaranteed return or a specific stock to buy now. The assistant acknowledges the anger, explains briefly and without jargon why it will not do that, holds the boundary when pushed again, and redirects to what it can do, leaving the user in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}} to {{turn_count_max}} turns, user first, style: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('anger_to_boundary__scenario', 'anger_to_boundary', 'scenario', 3.90,
   'Anger-to-boundary after a loss the user blames on others.',
   $t$Write a conversation set after {{persona_name}} lost money on something related to {{topic_name}} ({{topic_category}}) and blames "the experts". About the user: {{persona_description}} They start in {{starting_emotion}}, insulting the assistant and demanding it tell them how to win the money back fast. The financial guidance assistant does not match the tone, refuses to suggest risky recovery schemes, explains the boundary once, and offers a sober review of what happened and what a sensible next step is. End in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc, {{turn_count_min}}-{{turn_count_max}} turns, user first, voice: {{persona_communication_style}} Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('anger_to_boundary__edge_case', 'anger_to_boundary', 'edge_case', 3.40,
   'Anger-to-boundary where the request is unethical.',
   $t$Write a hard ({{tier}}) conversation about {{topic_name}} where {{persona_name}} ({{persona_archetype}}), in {{starting_emotion}}, asks for help with something unethical or illegal, such as hiding income from taxes or from an ex-spouse, and escalates when refused. The financial guidance assistant declines clearly and without moralising, does not give partial workarounds, names the legitimate options that address the underlying worry, and suggests the right professional. The user ends in {{ending_emotion}}, not necessarily happy. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$),
  -- grief_to_acceptance (edge arc) --------------------------------------------------------------------
  ('grief_to_acceptance__template', 'grief_to_acceptance', 'template', 4.30,
   'Grief-to-acceptance: money decisions after a loss, at the user''s pace.',
   $t$Write a gentle conversation in which {{persona_name}} ({{persona_archetype}}) talks to a financial guidance assistant about {{topic_name}} shortly after losing a spouse or parent, starting in {{starting_emotion}}. The assistant lets the user set the pace, acknowledges the loss without platitudes, separates the few things that are truly urgent from decisions that can wait months, and reassures them that going slowly is sensible, so the user reaches {{ending_emotion}}. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first, style: {{persona_communication_style}} Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns, each with turn_number, role ("user" or "assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity from 0 to 1).$t$),
  ('grief_to_acceptance__scenario', 'grief_to_acceptance', 'scenario', 4.00,
   'Grief-to-acceptance while settling a specific account or estate task.',
   $t$Write a conversation in which {{persona_name}} is settling one specific task connected to {{topic_name}} ({{topic_category}}) after a death in the family, such as claiming a life insurance payout or retitling an account. About the user: {{persona_description}} They start in {{starting_emotion}}, and memories surface mid-task. The financial guidance assistant makes room for that, then returns to the task with simple checklists and the documents needed, and the user ends in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc in {{turn_count_min}}-{{turn_count_max}} turns, user first, voice: {{persona_communication_style}} Return only JSON with conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns (turn_number, role user|assistant, content, emotional_context with primary_emotion, secondary_emotion, intensity 0-1).$t$),
  ('grief_to_acceptance__edge_case', 'grief_to_acceptance', 'edge_case', 3.60,
   'Grief-to-acceptance with pressure to decide fast.',
   $t$Write a hard ({{tier}}) conversation about {{topic_name}} in which {{persona_name}} ({{persona_archetype}}), in {{starting_emotion}}, is being pressured by relatives or a salesperson to make a big decision with inherited money right away. The financial guidance assistant validates the grief, explains that very few decisions are truly urgent, names the pressure tactics without attacking anyone, and helps the user script a kind but firm "not yet". End in {{ending_emotion}}. Follow the {{emotional_arc_name}} arc over {{turn_count_min}} to {{turn_count_max}} turns, user first. Return only JSON: conversation_metadata (client_persona, session_context, conversation_phase, expected_outcome) and turns with turn_number, role ("user"/"assistant"), content and emotional_context (primary_emotion, secondary_emotion, intensity 0 to 1).$t$)
) as t(template_name, arc_key, tier, rating, description, template_text)
on conflict (template_name) do nothing;

-- Guard: seeded templates use only the placeholders the renderer knows, and `variables` lists exactly
-- the placeholders each text uses.
do $$
declare
  v_seeded constant text[] := array['confusion_to_clarity', 'fear_to_confidence', 'frustration_to_relief',
    'overwhelm_to_empowerment', 'skepticism_to_trust', 'crisis_to_referral', 'anger_to_boundary',
    'grief_to_acceptance'];
  v_allowed constant text[] := array['persona_name', 'persona_archetype', 'persona_description',
    'persona_communication_style', 'emotional_arc_name', 'starting_emotion', 'ending_emotion',
    'turn_count_min', 'turn_count_max', 'topic_name', 'topic_category', 'topic_description', 'tier'];
  r record;
begin
  for r in
    select t.template_name, m[1] as placeholder
    from public.prompt_templates t
    cross join lateral regexp_matches(t.template_text, '\{\{\s*([^}]*?)\s*\}\}', 'g') m
    where split_part(t.template_name, '__', 1) = any (v_seeded) and not (m[1] = any (v_allowed))
  loop
    raise exception 'seed template % uses unknown placeholder {{%}}', r.template_name, r.placeholder;
  end loop;
  for r in
    select t.template_name from public.prompt_templates t
    where split_part(t.template_name, '__', 1) = any (v_seeded)
      and (select coalesce(jsonb_agg(distinct m[1] order by m[1]), '[]'::jsonb)
           from regexp_matches(t.template_text, '\{\{([a-z_]+)\}\}', 'g') m)
          is distinct from
          (select coalesce(jsonb_agg(distinct v order by v), '[]'::jsonb) from jsonb_array_elements_text(t.variables) v)
  loop
    raise exception 'seed template %: variables do not match the placeholders in its text', r.template_name;
  end loop;
end
$$;
