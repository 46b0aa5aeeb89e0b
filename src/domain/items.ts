import type { ItemStatus } from './enums';

/** An item's place in its job: all the workflow keeps of it (ids and positions, never item data). */
export interface ItemRef {
  id: string;
  position: number;
}

/** Where an item stands, as the workflow counts it (what `settleItems` answers). */
export interface ItemOutcome {
  id: string;
  position: number;
  status: ItemStatus;
  error_message: string | null;
}
