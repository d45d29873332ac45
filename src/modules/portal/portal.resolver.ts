import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { AdminOnly } from '../../graphql/authorization';
import type { GraphQLContext } from '../../graphql/context';
import { forbidden } from '../../lib/errors';
import { CreatePortalSessionInput } from './portal.input';
import { PortalService } from './portal.service';
import { PortalSessionType, PortalSessionWithToken } from './portal.type';

@Resolver(() => PortalSessionType)
export class PortalResolver {
  @AdminOnly('Creating customer portal sessions')
  @Mutation(() => PortalSessionWithToken, {
    description: 'Creates a customer portal session for one application (admin keys only); its one-time link is returned this once.',
  })
  async createPortalSession(@Arg('input', () => CreatePortalSessionInput) input: CreatePortalSessionInput, @Ctx() ctx: GraphQLContext) {
    const { session, token } = await new PortalService(ctx.em, undefined, ctx.scope).create({
      applicationId: input.applicationId,
      capabilities: input.capabilities,
      expiresInSeconds: input.expiresIn,
      theme: input.theme,
    });
    // The token goes in the fragment: browsers never send it to a server, or in a Referer.
    const url = `${ctx.config.portal.publicUrl ?? ''}/portal#token=${token}`;
    return Object.assign(new PortalSessionWithToken(), {
      url,
      token,
      expiresAt: session.expiresAt,
      session: PortalSessionType.from(session),
    });
  }

  @AdminOnly('Revoking customer portal sessions')
  @Mutation(() => Int, { description: 'Ends every portal session of the application at once (admin keys only); returns how many.' })
  async revokePortalSessions(@Arg('applicationId', () => ID) applicationId: string, @Ctx() ctx: GraphQLContext) {
    return new PortalService(ctx.em, undefined, ctx.scope).revokeAll(applicationId);
  }

  @Query(() => PortalSessionType, { description: 'The portal session this request was made with (portal sessions only).' })
  async currentPortalSession(@Ctx() ctx: GraphQLContext) {
    if (!ctx.principal.portal) throw forbidden('currentPortalSession answers only a customer portal session; this is an API key.');
    return PortalSessionType.from(await new PortalService(ctx.em).find(ctx.principal.portal.sessionId));
  }
}
