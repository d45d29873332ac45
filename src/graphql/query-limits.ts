import {
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  GraphQLError,
  type GraphQLNamedType,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  getArgumentValues,
  getNamedType,
  isInterfaceType,
  isObjectType,
} from 'graphql';
import type { Complexity } from 'type-graphql';
import { ErrorCode } from '../lib/errors';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './pagination';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
}

/**
 * Marks a limit violation so the error formatter can give it Herald's code: Apollo rewrites the `code` of
 * every validation error to GRAPHQL_VALIDATION_FAILED.
 */
export const HERALD_CODE_EXTENSION = 'heraldCode';

const INTROSPECTION_MAX_DEPTH = 20;

/** A query text over GRAPHQL_MAX_DOCUMENT_BYTES, refused before it is parsed (HTTP and graphql-ws alike). */
export function documentTooLarge(limits: { maxDocumentBytes: number }): GraphQLError {
  return new GraphQLError(
    `The query text is over ${limits.maxDocumentBytes} bytes (GRAPHQL_MAX_DOCUMENT_BYTES): send a shorter document and pass data as variables.`,
    { extensions: { code: ErrorCode.QUERY_TOO_LARGE, limit: limits.maxDocumentBytes } },
  );
}

/** A field's `complexity` (type-graphql's `@Field({ complexity })`) as graphql-query-complexity defines it. */
type ComplexityEstimator = Exclude<Complexity, number>;

/** A list field without a `page` argument (a delivery's attempts): its items' cost times `size`. */
export function listComplexity(size: number): ComplexityEstimator {
  return ({ childComplexity }) => 1 + size * childComplexity;
}

/**
 * A paged list (a `page: PageInput` argument): its items' cost times the page size asked for. Variables are
 * unknown when a document is validated, so a page whose size is not a literal costs the largest page.
 */
export const pagedListComplexity: ComplexityEstimator = ({ node, childComplexity }) => 1 + requestedPageSize(node) * childComplexity;

/**
 * Refuses documents nested deeper than `maxDepth` or whose estimated cost is over `maxCost`, before anything
 * runs. A field costs its `complexity` extension (see listComplexity, pagedListComplexity), or 1 plus the cost
 * of what it selects. Fragments are expanded; a fragment cycle is refused by graphql-js's own rules.
 */
export function queryLimitRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const schema = context.getSchema();
    const measure = (
      selectionSet: SelectionSetNode,
      parentType: GraphQLNamedType | undefined,
      depth: number,
      seen: Set<string>,
    ): { depth: number; cost: number } => {
      let deepest = depth;
      let cost = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          const field = fieldOf(parentType, selection.name.value);
          let childComplexity = 0;
          if (selection.selectionSet) {
            const inner = measure(selection.selectionSet, field && getNamedType(field.type), depth + 1, seen);
            deepest = Math.max(deepest, inner.depth);
            childComplexity = inner.cost;
          }
          cost += fieldCost(parentType, field, selection, childComplexity);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
          const inner = measure(selection.selectionSet, type ?? undefined, depth, seen);
          deepest = Math.max(deepest, inner.depth);
          cost += inner.cost;
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          if (!fragment || seen.has(name)) continue;
          const type = schema.getType(fragment.typeCondition.name.value) ?? undefined;
          const inner = measure(fragment.selectionSet, type, depth, new Set([...seen, name]));
          deepest = Math.max(deepest, inner.depth);
          cost += inner.cost;
        }
        if (cost > limits.maxCost * 10) break;
      }
      return { depth: deepest, cost };
    };
    return {
      OperationDefinition(node) {
        // GraphiQL's introspection query nests type references about 13 levels deep.
        const maxDepth = isIntrospectionOnly(node.selectionSet) ? Math.max(limits.maxDepth, INTROSPECTION_MAX_DEPTH) : limits.maxDepth;
        const { depth, cost } = measure(node.selectionSet, schema.getRootType(node.operation) ?? undefined, 1, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(
              `The query is nested ${depth} levels deep; the limit is ${maxDepth} (GRAPHQL_MAX_DEPTH). Ask for fewer nested fields.`,
              { nodes: [node], extensions: { [HERALD_CODE_EXTENSION]: 'QUERY_TOO_COMPLEX', depth, limit: maxDepth } },
            ),
          );
        } else if (cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(
              `The query's estimated cost is ${cost}; the limit is ${limits.maxCost} (GRAPHQL_MAX_COST). Ask for smaller pages or fewer nested lists.`,
              { nodes: [node], extensions: { [HERALD_CODE_EXTENSION]: 'QUERY_TOO_COMPLEX', cost, limit: limits.maxCost } },
            ),
          );
        }
      },
    };
  };
}

/** The field a selection names on its parent type; undefined for introspection fields and unknown names. */
function fieldOf(parentType: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  if (!isObjectType(parentType) && !isInterfaceType(parentType)) return undefined;
  return parentType.getFields()[name];
}

function fieldCost(
  parentType: GraphQLNamedType | undefined,
  field: GraphQLField<unknown, unknown> | undefined,
  node: FieldNode,
  childComplexity: number,
): number {
  const complexity = field?.extensions.complexity as Complexity | undefined;
  if (typeof complexity === 'number') return complexity + childComplexity;
  if (complexity && field && (isObjectType(parentType) || isInterfaceType(parentType))) {
    const estimate = complexity({ type: parentType, field, node, args: literalArguments(field, node), childComplexity });
    if (typeof estimate === 'number') return estimate;
  }
  return 1 + childComplexity;
}

/** The arguments a field is given as literals; those set by variables are absent (unknown at validation). */
function literalArguments(field: GraphQLField<unknown, unknown>, node: FieldNode): Record<string, unknown> {
  try {
    return getArgumentValues(field, node, {});
  } catch {
    // An argument that is invalid or a required variable: graphql-js's own rules report it.
    return {};
  }
}

/** The page size a paged list asks for: its literal `page.first`, the default without `page`, else the largest. */
function requestedPageSize(field: FieldNode): number {
  const page = field.arguments?.find((argument) => argument.name.value === 'page');
  if (!page) return DEFAULT_PAGE_SIZE;
  if (page.value.kind === Kind.OBJECT) {
    const first = page.value.fields.find((entry) => entry.name.value === 'first');
    if (first?.value.kind === Kind.INT) return Math.max(1, Number(first.value.value));
  }
  return MAX_PAGE_SIZE;
}

function isIntrospectionOnly(selectionSet: SelectionSetNode): boolean {
  return selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith('__'));
}
